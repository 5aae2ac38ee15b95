"""Default run names: training writes every model to OUT/model, so the run folder names it."""

from ponder.cli import _model_name


def test_model_folder_is_named_by_its_run():
    assert _model_name("runs/dpo/model") == "dpo"
    assert _model_name("runs/dpo/model/") == "dpo"
    assert _model_name("runs/tiny") == "tiny"
    assert _model_name("Qwen/Qwen2.5-7B-Instruct") == "Qwen2.5-7B-Instruct"
    assert _model_name("model") == "model"  # no parent to name it by
