import dataclasses
from dataclasses import dataclass
from typing import Literal

import pytest

from ponder.config import describe, load_config, option
from ponder.errors import ConfigError


@dataclass(frozen=True)
class Optim:
    lr: float = option(1e-5, "peak learning rate")
    schedule: Literal["cosine", "linear"] = option("cosine", "decay after warm-up")


@dataclass(frozen=True)
class Cfg:
    model: str = option(help="model folder or hub name")
    beta: float = option(0.1, "DPO beta")
    max_length: int | None = option(None, "token limit per sequence; None = no truncation")
    files: list[str] = option([], "pair files")
    bf16: bool = option(False, "use bfloat16")
    optim: Optim = option(Optim(), "optimizer settings")


def test_defaults_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\nbeta: 0.01\noptim:\n  lr: 3e-7\n")
    cfg = load_config(Cfg, path, ["beta=0.5", "optim.schedule=linear", "files=a.jsonl,b.jsonl", "bf16=true"])
    assert cfg == Cfg(
        model="m", beta=0.5, files=["a.jsonl", "b.jsonl"], bf16=True, optim=Optim(lr=3e-7, schedule="linear")
    )
    assert (
        load_config(Cfg, path).optim.lr == 3e-7
    )  # YAML 1.1 reads 3e-7 as text: parsed, it is exactly float('3e-7')


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\noptim:\n  lr: 1e-6\n  schedul: linear\n")
    with pytest.raises(
        ConfigError, match=r"c.yaml:4: unknown key 'optim.schedul'; did you mean 'schedule'\?"
    ):
        load_config(Cfg, path)


def test_wrong_type_and_missing_required():
    with pytest.raises(ConfigError, match=r"override 'beta=high': expected a number"):
        load_config(Cfg, overrides=["model=m", "beta=high"])
    with pytest.raises(ConfigError, match="expected one of 'cosine', 'linear'"):
        load_config(Cfg, overrides=["model=m", "optim.schedule=step"])
    with pytest.raises(ConfigError, match="required key 'model'"):
        load_config(Cfg)
    assert load_config(Cfg, overrides=["model=m", "max_length=none"]).max_length is None


def test_config_is_frozen_and_described():
    cfg = load_config(Cfg, overrides=["model=m"])
    with pytest.raises(AttributeError):
        cfg.beta = 1.0
    text = describe(Cfg)
    assert "optim.lr (float, default 1e-05): peak learning rate" in text


def _settings_classes():
    """Every dataclass of ponder declared with ``option`` (a settings or config class)."""
    import importlib
    import pkgutil

    import ponder

    found = {}
    for mod in pkgutil.walk_packages(ponder.__path__, "ponder."):
        if mod.name.endswith((".train.train", ".sandbox_child", ".sandbox_worker")) or "__main__" in mod.name:
            continue
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == mod.name:
                if any("help" in f.metadata for f in dataclasses.fields(obj)):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_setting_is_declared_with_its_help():
    """Principle 5: a settings field carries its help where it is declared (the CLI, --show-config and the
    docs show it); a class that documents some fields documents all."""
    classes = _settings_classes()
    assert {"GenerateSettings", "ProcessSettings", "EvalSettings", "DPOConfig", "PFPOCodeConfig"} <= {
        name.rsplit(".", 1)[-1] for name in classes
    }
    missing = [
        f"{name}.{f.name}"
        for name, cls in classes.items()
        for f in dataclasses.fields(cls)
        if not f.metadata.get("help")
    ]
    assert not missing
