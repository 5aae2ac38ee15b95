"""The architecture drawn in docs/architecture.md is the code's: every part imports exactly the parts its
arrow names -- nothing more (no import against the layering) and nothing less (no arrow drawn that the code
does not have) -- and every module belongs to a drawn part."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ponder"


def drawn() -> dict[str, set[str]]:
    """The ``arrows`` block of docs/architecture.md: ``part -> dependencies``."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```arrows\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```arrows block"
    arrows = {}
    for line in block.group(1).splitlines():
        part, _, deps = line.partition("->")
        arrows[part.strip()] = set(deps.split())
    return arrows


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports() -> dict[str, dict[str, list[str]]]:
    """``part -> {imported part: [files importing it]}`` as the code has it (imports of ``ponder.X``)."""
    out: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PKG.rglob("*.py")):
        unit = _unit(path)
        out.setdefault(unit, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "ponder" and len(parts) > 1 and parts[1] != unit:
                    if (PKG / parts[1]).is_dir() or (PKG / f"{parts[1]}.py").is_file():
                        out[unit].setdefault(parts[1], []).append(str(path.relative_to(ROOT)))
    return out


def test_every_module_belongs_to_a_drawn_part():
    found = set(imports()) - {"__init__"}
    assert found == set(drawn()), (
        f"parts in the code but not drawn: {found - set(drawn())}; drawn only: {set(drawn()) - found}"
    )


def test_imports_follow_the_arrows_exactly():
    arrows, code = drawn(), imports()
    against = [
        f"{files[0]} imports ponder.{dep} (no arrow {part} -> {dep})"
        for part, deps in code.items()
        if part in arrows
        for dep, files in deps.items()
        if dep not in arrows[part]
    ]
    assert not against, "imports against the drawn architecture:\n" + "\n".join(sorted(against))
    unused = [
        f"{part} -> {dep}" for part, deps in arrows.items() for dep in deps if dep not in code.get(part, {})
    ]
    assert not unused, (
        "arrows drawn that the code does not have (redraw docs/architecture.md):\n" + "\n".join(unused)
    )


def test_the_drawing_has_no_cycle():
    arrows = drawn()
    state: dict[str, int] = {}

    def visit(part: str, path: list[str]) -> None:
        if state.get(part) == 1:
            raise AssertionError("cycle: " + " -> ".join([*path, part]))
        if state.get(part) == 2:
            return
        state[part] = 1
        for dep in arrows.get(part, ()):
            visit(dep, [*path, part])
        state[part] = 2

    for part in arrows:
        visit(part, [])
