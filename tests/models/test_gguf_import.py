"""``ponder models import-gguf`` on GGUF files written here from ponder's tiny models (no wheel needed)."""

import json
import subprocess

import pytest
import torch

from ponder.errors import PonderError
from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.models.gguf import PROBES, import_gguf, load_gguf, max_relative_error, probe_ids, probe_logits
from tests.helpers import ponder_cmd, subprocess_env
from tests.models.gguf_files import llama_from_tiny, write_gguf

EPS32 = 1.19e-7


def _load(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_llama_dir(tiny_model_dir, tmp_path_factory):
    return llama_from_tiny(tiny_model_dir, tmp_path_factory.mktemp("llama") / "llama")


def test_cli_imports_a_qwen2_file_to_a_plain_folder_with_the_same_tokens_and_logits(tiny_model_dir, tmp_path):
    gguf_path = write_gguf(tiny_model_dir, tmp_path / "tiny.gguf", "qwen2", "F32")
    out = tmp_path / "imported"
    r = subprocess.run(
        ponder_cmd("models", "import-gguf", str(gguf_path), str(out)),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert r.returncode == 0, r.stderr
    assert "Qwen2ForCausalLM" in r.stdout
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "qwen2"
    assert (out / "model.safetensors").is_file()
    src_model, src_tok = _load(tiny_model_dir)
    model, tok = _load(out)
    assert tok.chat_template == src_tok.chat_template
    assert tok.eos_token == src_tok.eos_token and model.generation_config.eos_token_id == src_tok.eos_token_id
    assert probe_ids(tok) == probe_ids(src_tok)
    ref, got = probe_logits(src_model, src_tok), probe_logits(model, tok)
    scale = max(float(x.abs().max()) for x in ref)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=8 * EPS32 * scale)


def test_llama_files_have_their_rotary_rows_restored(tiny_llama_dir, tmp_path):
    """llama.cpp stores Q and K rows permuted; a wrong inverse would scramble attention and the logits."""
    gguf_path = write_gguf(tiny_llama_dir, tmp_path / "llama.gguf", "llama", "F32")
    summary = import_gguf(gguf_path, tmp_path / "out")
    assert summary.architecture == "LlamaForCausalLM" and summary.max_logit_error <= 8 * EPS32
    src_model, src_tok = _load(tiny_llama_dir)
    model, _ = _load(tmp_path / "out")
    for name, w in src_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], w), name
    assert max_relative_error(probe_logits(src_model, src_tok), probe_logits(model, src_tok)) <= 8 * EPS32


def test_quantised_weights_stay_within_the_q8_0_rounding_bound(tiny_model_dir, tmp_path):
    """Q8_0 keeps, per block of 32 weights, d = max|w| / 127 (stored in float16) and round(w / d): each weight
    is off by at most d / 2 plus the float16 rounding of d times 127 (2^-11 relative): bound d * 0.57."""
    gguf_path = write_gguf(tiny_model_dir, tmp_path / "q8.gguf", "qwen2", "Q8_0")
    import_gguf(gguf_path, tmp_path / "out")
    src_model, _ = _load(tiny_model_dir)
    model, tok = _load(tmp_path / "out")
    quantised = 0
    for name, w in src_model.state_dict().items():
        got = model.state_dict()[name]
        if w.dim() == 2:
            blocks = w.reshape(-1, 32)
            bound = blocks.abs().amax(dim=1, keepdim=True) / 127 * 0.57
            err = (got.reshape(-1, 32) - blocks).abs()
            assert bool((err <= bound).all()), name
            quantised += int((err > 0).any())
        else:
            assert torch.equal(got, w), name
    assert quantised > 0  # the file really held quantised weights
    # The folder is the dequantised GGUF model itself: same logits as transformers' own GGUF load.
    gguf_model, _ = load_gguf(gguf_path)
    assert max_relative_error(probe_logits(gguf_model, tok), probe_logits(model, tok)) <= 8 * EPS32


def test_bfloat16_output_holds_the_rounded_weights(tiny_llama_dir, tmp_path):
    gguf_path = write_gguf(tiny_llama_dir, tmp_path / "llama.gguf", "llama", "F32")
    import_gguf(gguf_path, tmp_path / "out", dtype="bfloat16")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype="auto")
    src_model, _ = _load(tiny_llama_dir)
    assert model.dtype == torch.bfloat16
    for name, w in src_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], w.to(torch.bfloat16)), name


def test_imported_folder_generates_what_the_source_generates(tiny_model_dir, tmp_path):
    import_gguf(write_gguf(tiny_model_dir, tmp_path / "tiny.gguf"), tmp_path / "out")
    prompts = [[{"role": "user", "content": p}] for p in PROBES]
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=24, seed=3)
    src = HFGenerator(tiny_model_dir).generate(prompts, params)
    got = HFGenerator(tmp_path / "out").generate(prompts, params)
    assert [[c.text for c in cs] for cs in got] == [[c.text for c in cs] for cs in src]


def test_bad_inputs_are_refused_with_the_file_named(tiny_model_dir, tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a GGUF file")
    with pytest.raises(PonderError, match=r"model\.gguf: not a GGUF file"):
        import_gguf(not_gguf, tmp_path / "out")
    with pytest.raises(PonderError, match="no such GGUF file"):
        import_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    with pytest.raises(PonderError, match="taken: exists and is not empty"):
        import_gguf(write_gguf(tiny_model_dir, tmp_path / "t.gguf"), tmp_path / "taken")
    with pytest.raises(PonderError, match="--dtype"):
        import_gguf(tmp_path / "t.gguf", tmp_path / "new", dtype="float16")
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
