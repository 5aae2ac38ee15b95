"""The dependency direction of DESIGN.md: packages import only from the layers below them."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ponder"

BASE = {"errors", "jsonl", "records", "parquet", "io", "config", "progress"}
ALLOWED = {
    "errors": set(),
    "jsonl": {"errors"},
    "parquet": {"errors", "jsonl"},
    "records": {"errors", "jsonl", "parquet"},
    "io": {"errors", "jsonl", "parquet", "records"},
    "config": {"errors"},
    "progress": set(),
    "losses": set(),
    "tasks": BASE,
    "generation": BASE,
    "verify": BASE,
    "models": BASE | {"tasks"},
    "feedback": BASE | {"tasks", "generation", "verify"},
    "pairs": BASE | {"tasks", "generation", "verify", "feedback"},
    "env": BASE | {"tasks", "generation", "verify"},
    "train": BASE | {"losses", "models"},
    "eval": BASE | {"tasks", "generation", "verify", "env"},
    "recipes": BASE
    | {"tasks", "generation", "verify", "feedback", "pairs", "env", "losses", "train", "eval", "models"},
    "cli": None,  # the top: may import anything
    "__main__": None,
    "__init__": set(),
}


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ponder" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_every_module_belongs_to_a_known_layer():
    units = {_unit(p) for p in PKG.rglob("*.py")}
    assert units <= set(ALLOWED), f"add these to ALLOWED (and DESIGN layout): {units - set(ALLOWED)}"


def test_imports_point_downward_only():
    bad = []
    for path in PKG.rglob("*.py"):
        unit = _unit(path)
        allowed = ALLOWED[unit]
        if allowed is None:
            continue
        for dep in _imports(path) - {unit}:
            if dep in ALLOWED and dep not in allowed:
                bad.append(f"{path.relative_to(PKG.parent)} imports ponder.{dep}")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))
