"""Chunked log-probs: equal to the whole-logits path (values, entropy, hidden states, gradients), and
bounded in memory at a 151,936-token vocabulary (peak RSS of a subprocess)."""

import json
import subprocess
import sys

import pytest
import torch

from ponder.train import chunked
from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack, pad
from tests.helpers import BF16_ROUNDINGS, assert_close, grads, subprocess_env


def _groups(seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rnd(n):
        return tuple(torch.randint(3, 600, (n,), generator=gen).tolist())

    return [
        PromptGroup(rnd(7), (rnd(13), rnd(5))),
        PromptGroup(rnd(3), (rnd(9),), ((True, False, True, True, False, True, True, True, True),)),
        PromptGroup(rnd(11), (rnd(4), rnd(8))),
    ]


def _run(model, batch, **kw):
    model.zero_grad()
    lp = logprobs(model, batch, **kw)
    # a weighted sum, so every token's gradient differs
    weights = torch.linspace(0.5, 1.5, lp.tokens.numel())
    (lp.tokens * weights).sum().backward()
    return lp, grads(model).clone()


@pytest.fixture
def models(tiny_model_dir):
    """The same weights with a head that computes 7 tokens per chunk, and with the whole-logits head."""
    whole = load_model(tiny_model_dir, logits_per_chunk=0)
    small = load_model(tiny_model_dir, logits_per_chunk=7 * whole.config.vocab_size)
    assert isinstance(small.lm_head, chunked.ChunkedHead) and not isinstance(
        whole.lm_head, chunked.ChunkedHead
    )
    assert chunked.chunk_tokens(small.config.vocab_size, small.lm_head.logits_per_chunk) == 7
    return small, whole


@pytest.mark.parametrize("layout", ["packed", "padded"])
def test_chunked_equals_whole_logits(models, layout):
    """Values, entropy and every parameter's gradient agree within fp32 rounding (several chunks)."""
    small, whole = models
    batch = pack(_groups()) if layout == "packed" else pad(_groups())
    kw = {"return_entropy": True, "return_hidden": layout == "packed"}
    a, grad_a = _run(small, batch, **kw)
    b, grad_b = _run(whole, batch, **kw)
    assert a.tokens.shape == (batch.targets.numel(),) and a.tokens.numel() > 3 * 7
    assert_close(a.tokens, b.tokens, factor=64)
    assert_close(a.sequences, b.sequences, factor=64)
    assert_close(a.entropy, b.entropy, factor=64)
    assert_close(grad_a, grad_b, factor=64)
    if layout == "packed":
        assert_close(a.hidden, b.hidden, factor=64)
    # the tied embedding got its gradient through the chunked head too
    assert float(small.lm_head.weight.grad.abs().sum()) > 0


def test_chunked_equals_whole_logits_under_bf16_autocast(models):
    """Under bf16 autocast both paths multiply in bf16: equal within bf16 rounding of the logits."""
    small, whole = models
    batch = pack(_groups(1))
    out = []
    for model in (small, whole):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.zero_grad()
            lp = logprobs(model, batch)
        lp.sequences.sum().backward()
        out.append((lp.tokens.detach(), grads(model).clone()))
    assert out[0][0].dtype == torch.float32
    assert_close(out[0][0], out[1][0], factor=4 * BF16_ROUNDINGS)
    assert_close(out[0][1], out[1][1], factor=4 * BF16_ROUNDINGS)


def test_gradient_flows_only_where_asked():
    """A frozen weight gets no gradient; the hidden states still do (a frozen head under a trained body)."""
    torch.manual_seed(0)
    h = torch.randn(10, 8, requires_grad=True)
    w = torch.randn(50, 8)
    t = torch.randint(0, 50, (10,))
    logp, _ = chunked.ChunkedLogProbs.apply(h, w, None, t, 3, torch.float32, False)
    logp.sum().backward()
    expected = torch.autograd.grad(torch.log_softmax(h @ w.T, -1).gather(1, t[:, None]).sum(), h)[0]
    assert_close(h.grad, expected, factor=64)


def test_heads_it_does_not_cover_keep_the_plain_path(tiny_model_dir):
    """Logit soft-capping changes the logits after the head: such a model is not given a chunked head."""
    model = load_model(tiny_model_dir)
    model.lm_head.__class__ = torch.nn.Linear
    model.config.final_logit_softcapping = 30.0
    assert not chunked.install(model)
    assert type(model.lm_head) is torch.nn.Linear


MEMORY_SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(1)
from transformers import Qwen2Config, Qwen2ForCausalLM
from ponder.train import chunked
from ponder.train.logprobs import logprobs
from ponder.train.metrics import peak_rss_bytes, reset_peak_rss, rss_bytes
from ponder.train.attention import register_attention
from ponder.train.packing import PromptGroup, pack

vocab, tokens = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
config = Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=1, num_key_value_heads=1, tie_word_embeddings=True)
model = Qwen2ForCausalLM._from_config(config, attn_implementation=register_attention())
ids = torch.randint(3, vocab, (tokens + 8,)).tolist()
batch = pack([PromptGroup(ids[:8], (ids[8:],))])
out = {}
for per_chunk in map(int, sys.argv[3:]):
    model.lm_head.__class__ = torch.nn.Linear
    chunked.install(model, per_chunk)
    logprobs(model, pack([PromptGroup(ids[:8], (ids[8:40],))])).sequences.sum().backward()  # warm up
    model.zero_grad(set_to_none=False)  # gradient buffers exist before the measurement
    assert reset_peak_rss()
    before = rss_bytes()
    logprobs(model, batch).sequences.sum().backward()
    out[per_chunk] = peak_rss_bytes() - before
    assert float(model.lm_head.weight.grad.abs().sum()) > 0
print(json.dumps(out))
"""


def test_log_prob_memory_is_bounded_at_a_qwen_vocabulary():
    """1,024 scored tokens x 151,936 vocabulary: one fp32 logits tensor is 622 MB. The whole-logits path
    (the control, proving the measurement sees the logits) peaks above two of them during forward and
    backward. The chunked path (16 MiB of logits per chunk) needs only the gradient buffers of the tied
    embedding / head weight (19 MB each: the head's, the embedding's, their sum) and a few chunks.
    Measured in a subprocess (peak RSS, reset before each computation), chunked first."""
    vocab, tokens, per_chunk = 151_936, 1024, 2**22
    r = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(vocab), str(tokens), str(per_chunk), "0"],
        env=subprocess_env(OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    small, whole = out[str(per_chunk)], out["0"]
    logits_bytes = vocab * tokens * 4
    weight_bytes = vocab * 32 * 4
    assert whole > 2 * logits_bytes, (whole, logits_bytes)
    assert small < 4 * weight_bytes + 4 * per_chunk * 4, (small, weight_bytes)
