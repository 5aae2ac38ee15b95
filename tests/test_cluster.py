"""The Ray settings every fan-out shares, and the one-line error when Ray is not installed."""

import sys

import pytest

from ponder.cluster import RaySettings, connect
from ponder.errors import PonderError
from ponder.generation.stage import GenerateSettings
from ponder.pairs.code_stage import CodePairSettings
from ponder.verify.exec_stage import ExecSettings


def test_fan_out_settings_are_checked():
    with pytest.raises(ValueError, match="cpus_per_worker must be positive"):
        RaySettings(cpus_per_worker=0)
    with pytest.raises(ValueError, match="ray_address must be HOST:PORT"):
        CodePairSettings(ray_address=" ")
    with pytest.raises(ValueError, match="gpus_per_worker must be >= 0"):
        GenerateSettings(gpus_per_worker=-1)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        ExecSettings(workers=-1)
    assert not GenerateSettings().fan_out and GenerateSettings(workers=2).fan_out
    assert GenerateSettings(ray_address="10.0.0.1:6379").fan_out


def test_missing_ray_is_one_line_naming_the_option(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as on a machine without it
    with pytest.raises(PonderError) as e:
        connect("127.0.0.1:6379")
    assert str(e.value) == "--ray-address needs Ray, which is not installed: pip install -e '.[ray]'"
    with pytest.raises(PonderError, match="^--workers needs Ray"):
        connect(None, needed_by="--workers")
