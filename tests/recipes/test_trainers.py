"""Recipe-level equivalences on the nano model (fp32) and what a run writes."""

import functools
import json
import math
import shutil

import pytest
import torch

from ponder.errors import PonderError
from ponder.recipes.dpo import train as dpo
from ponder.recipes.sft import train as sft
from ponder.train import steps
from ponder.train.data import read_pair_records
from ponder.train.distributed import make_accelerator
from ponder.train.encode import Encoder, Where
from ponder.train.metrics import read_metrics
from ponder.train.model import load_model
from tests.helpers import approx, assert_close, grads

# One batch against accumulated micro-batches sums the same terms in another order (and runs the kernels
# on other shapes): 64 roundings of the largest value compared, as for packing (tests/train/test_packing.py).
FACTOR = 64


def _pairs(tokenizer, path, n=8):
    enc = Encoder(tokenizer)
    return [enc.encode_pair(p, Where(path, line)) for line, p in read_pair_records(path)][:n]


def _perturb(model):
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)


def _step(model, groups, loss_fn, budget):
    """Loss statistics and gradients of one step's forward/backward with micro-batches of ``budget`` tokens."""
    acc = make_accelerator()
    model.zero_grad()
    micro = steps.local_microbatches(groups, accelerator=acc, tokens_per_microbatch=budget)
    sums = steps.accumulate(acc, model, micro, loss_fn)
    return len(micro), sums, grads(model).clone()


def test_dpo_one_batch_of_8_equals_8_accumulated_batches_of_1(model, tiny_model_dir, tokenizer, pair_file):
    _perturb(model)
    ref = load_model(tiny_model_dir, trainable=False)
    groups = _pairs(tokenizer, pair_file)
    cfg = dpo.DPOConfig(model="m", data=["d"], output="o", beta=0.1)
    fn = functools.partial(dpo._microbatch_loss, cfg, model, ref, None, 1 / len(groups))
    n_big, big, g_big = _step(model, groups, fn, budget=100_000)
    n_small, small, g_small = _step(model, groups, fn, budget=1)
    assert (n_big, n_small) == (1, 8)
    assert big["pairs"] == small["pairs"] == 8
    assert_close(torch.tensor(big["loss"] / 8), torch.tensor(small["loss"] / 8), factor=FACTOR)
    assert_close(g_big, g_small, factor=FACTOR)


def test_sft_one_batch_equals_accumulation_with_token_mean_over_the_step(model, tokenizer, sft_file):
    """Micro-batches of unequal token counts: each divides by the step's count, so the sum is the step mean."""
    enc = Encoder(tokenizer)
    groups = sft.encode_sft_file(str(sft_file), enc)[:8]
    scored = sum(g.scored(0) for g in groups)
    fn = functools.partial(sft._microbatch_loss, model, scored, 1)
    n_big, big, g_big = _step(model, groups, fn, budget=100_000)
    n_small, small, g_small = _step(model, groups, fn, budget=1)
    assert (n_big, n_small) == (1, 8)
    assert_close(torch.tensor(big["nll"] / scored), torch.tensor(small["nll"] / scored), factor=FACTOR)
    assert_close(g_big, g_small, factor=FACTOR)


def _dpo_cfg(tiny_model_dir, data, out, **kw):
    base = dict(
        model=str(tiny_model_dir),
        data=[str(data)],
        output=str(out),
        pairs_per_step=4,
        max_steps=3,
        lr=1e-3,
        tokens_per_microbatch=512,
        tensorboard=False,
    )
    base.update(kw)
    return dpo.DPOConfig(**base)


def test_precomputed_reference_equals_live_reference(tmp_path, tiny_model_dir, pair_file, monkeypatch):
    data = tmp_path / "pairs.jsonl"
    shutil.copy(pair_file, data)
    live = dpo.run(_dpo_cfg(tiny_model_dir, data, tmp_path / "live"))
    pre = dpo.run(_dpo_cfg(tiny_model_dir, data, tmp_path / "pre", precompute_ref=True))
    a, b = read_metrics(tmp_path / "live/metrics.jsonl"), read_metrics(tmp_path / "pre/metrics.jsonl")
    assert len(a) == len(b) == 3 and a[-1]["loss"] < a[0]["loss"]
    for ra, rb in zip(a, b, strict=True):
        for key in ("loss", "rewards_chosen", "rewards_rejected", "margin"):
            # cached reference log-probs against recomputed ones: the same forward on other batch shapes
            assert ra[key] == approx(rb[key], factor=FACTOR, scale=1.0), (key, ra, rb)
    cached = list((tmp_path / ".ponder_ref").glob("pairs.jsonl.*.json"))
    assert len(cached) == 1 and len(json.loads(cached[0].read_text())["logps"]) == 16
    assert live["final"]["loss"] == approx(pre["final"]["loss"], factor=FACTOR)

    # A second run reads the cache instead of running the reference model again ...
    def fail(*a, **k):
        raise AssertionError("reference pass should have come from the cache")

    monkeypatch.setattr(dpo, "_reference_pass", fail)
    dpo.run(_dpo_cfg(tiny_model_dir, data, tmp_path / "again", precompute_ref=True))
    # ... and changed data gets a new cache entry.
    data.write_text(data.read_text().replace("Compute", "Evaluate"))
    monkeypatch.undo()
    dpo.run(_dpo_cfg(tiny_model_dir, data, tmp_path / "changed", precompute_ref=True))
    assert len(list((tmp_path / ".ponder_ref").glob("pairs.jsonl.*.json"))) == 2


def test_a_run_writes_metrics_tensorboard_model_and_summary(tmp_path, tiny_model_dir, pair_file):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    summary = dpo.run(_dpo_cfg(tiny_model_dir, pair_file, out, tensorboard=True, max_steps=2))
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in (
        "loss",
        "rewards_chosen",
        "rewards_rejected",
        "margin",
        "accuracy",
        "tokens",
        "tokens_per_s",
        "lr",
    ):
        assert isinstance(rows[0][key], float | int), key
    # policy == reference before the first update: -log sigmoid(0) = log 2, a mean of 4 fp32 values
    assert rows[0]["loss"] == approx(math.log(2), factor=4)
    assert rows[0]["pairs"] == 4 and rows[0]["tokens"] > 0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    reloaded = AutoModelForCausalLM.from_pretrained(out / "model")
    assert reloaded.config.model_type == "qwen2"
    assert json.loads((out / "summary.json").read_text())["steps"] == 2 == summary["steps"]
    with pytest.raises(PonderError, match="already holds a training run; pass --resume"):
        dpo.run(_dpo_cfg(tiny_model_dir, pair_file, out, max_steps=2))


def test_sft_run_learns(tmp_path, tiny_model_dir, sft_file):
    out = tmp_path / "sft"
    sft.run(
        sft.SFTConfig(
            model=str(tiny_model_dir),
            data=[str(sft_file)],
            output=str(out),
            examples_per_step=4,
            max_steps=6,
            lr=3e-3,
            warmup_ratio=0.0,
            tensorboard=False,
        )
    )
    rows = read_metrics(out / "metrics.jsonl")
    assert len(rows) == 6 and rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["examples"] == 4 for r in rows)


def test_save_dtype_bf16_halves_the_saved_model_and_resumes(tmp_path, tiny_model_dir, sft_file):
    """save_dtype=bfloat16: the final model and the checkpoints hold bf16 weights (half the bytes of fp32),
    config.json says so, transformers loads them as bf16 with the head still tied; a run resumed from a
    bf16 checkpoint continues (from the rounded weights) to the end."""
    import os

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    def cfg(out, **kw):
        return sft.SFTConfig(
            model=str(tiny_model_dir),
            data=[str(sft_file)],
            output=str(out),
            examples_per_step=4,
            max_steps=2,
            lr=3e-3,
            tensorboard=False,
            **kw,
        )

    sft.run(cfg(tmp_path / "fp32"))
    sft.run(cfg(tmp_path / "bf16", save_dtype="bfloat16", save_every=1))
    fp32 = tmp_path / "fp32/model/model.safetensors"
    for folder in (tmp_path / "bf16/model", tmp_path / "bf16/checkpoints/step-000001/model"):
        weights = load_file(str(folder / "model.safetensors"))
        assert {v.dtype for v in weights.values()} == {torch.bfloat16}
        assert weights.keys() == load_file(str(fp32)).keys()
        assert os.path.getsize(folder / "model.safetensors") < 0.55 * os.path.getsize(fp32)
        assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16/model"), dtype="auto")
    assert loaded.dtype == torch.bfloat16
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    # resume: drop the final model and the last step, continue from the bf16 checkpoint of step 1
    shutil.rmtree(tmp_path / "bf16/model")
    (tmp_path / "bf16/summary.json").unlink()
    summary = sft.run(cfg(tmp_path / "bf16", save_dtype="bfloat16", save_every=1, resume=True))
    assert summary["resumed_from"] == 1 and summary["final"]["step"] == 2
