"""Importing a GGUF file as a standard Hugging Face model folder.

``import_gguf(FILE, OUT, dtype=...)`` reads any GGUF file transformers can read (``gguf_file=``; needs the
``gguf`` package) -- llama.cpp's format, often quantised -- and writes ``OUT`` with ``model.safetensors``,
``config.json`` (no ``quantization_config``: the weights are plain, dequantised tensors),
``generation_config.json`` and the tokenizer with its chat template. transformers, vLLM and every ponder stage
load that folder unchanged.

Why a copy: transformers dequantises a GGUF file into an ordinary model, but refuses to ``save_pretrained``
it (its config still says ``quant_method: gguf``). The weights are copied into a freshly built model of
the same class and config, without the quantisation entry, and that model is saved.

The folder is checked before it is published: the tokenizer reloaded from it must give the same ids as
the GGUF tokenizer on :data:`PROBES` (transformers rebuilds some tokenizers' pre-tokenizers from their
class on reload), and the reloaded model's logits on them must equal the GGUF model's (dequantised to
float32) within a few epsilons of ``dtype`` times their magnitude. The output appears complete or not at all: it is written
to a temporary folder beside ``OUT`` and renamed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ponder.errors import PonderError

DTYPES = ("float32", "bfloat16")

# Text the tokenizer and logit checks run on: chat turns, digits, code indentation, non-ASCII.
PROBES = (
    "What is 17 + 25? Answer with a number.",
    "def add(a, b):\n    return a + b\n\nprint(add(12345, 678))",
    "Step 1: 3 × 4 = 12, déjà vu.\n\tTabs and  double  spaces!",
)

# Logits agree when |a - b| <= RTOL * max|a| (fp32: a handful of epsilons of the largest logit; the same
# weights in a fresh model differ only by the order of floating point operations, if at all).
RTOL = {"float32": 16 * 1.19e-7, "bfloat16": 16 * 7.8e-3}


@dataclass(frozen=True)
class ImportSummary:
    out: Path
    architecture: str
    parameters: int
    dtype: str
    max_logit_error: float


def _check_source(path: Path) -> None:
    if not path.is_file():
        raise PonderError(f"{path}: no such GGUF file")
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise PonderError(f"{path}: not a GGUF file (it does not start with the 'GGUF' magic bytes)")
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise PonderError(
            "reading GGUF files needs the gguf package: pip install -e '.[real]' (or make real-model)"
        ) from None


def load_gguf(path: str | Path, dtype: str = "float32"):
    """``(model, tokenizer)`` as transformers reads the GGUF file (weights dequantised to ``dtype``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    _check_source(path)
    folder, name = str(path.parent), path.name
    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError) as e:
        raise PonderError(f"{path}: transformers cannot read this GGUF file: {e}") from None
    model.eval()
    return model, tok


def plain_copy(model, dtype: str):
    """A freshly built model of ``model``'s class holding its weights, with no quantisation config."""
    import copy

    import torch

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = dtype
    fresh = type(model)(config)  # built on the CPU (not "meta"): its rotary buffers are computed, not loaded
    fresh.load_state_dict(model.state_dict(), strict=True)
    fresh.tie_weights()
    fresh.generation_config = copy.deepcopy(model.generation_config)
    return fresh.to(getattr(torch, dtype)).eval()


def probe_logits(model, tokenizer):
    """Logits ``[len(PROBES)]`` of ``[1, tokens, vocab]`` float32 tensors for each probe as a chat prompt."""
    import torch

    out = []
    with torch.no_grad():
        for ids in probe_ids(tokenizer):
            out.append(model(torch.tensor([ids])).logits.float())
    return out


def probe_ids(tokenizer) -> list[list[int]]:
    """Token ids of each probe rendered as a chat prompt (plain text when there is no chat template)."""
    rows = []
    for text in PROBES:
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        rows.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return rows


def max_relative_error(a, b) -> float:
    """``max |a - b| / max |a|`` over lists of tensors (0 when both are all zero)."""
    err = max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))
    scale = max(float(x.abs().max()) for x in a)
    return err / scale if scale else err


def import_gguf(src: str | Path, out: str | Path, *, dtype: str = "float32") -> ImportSummary:
    """Write ``out`` as a standard HF folder from the GGUF file ``src`` (see the module docstring)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise PonderError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    src, out = Path(src), Path(out)
    if out.exists() and any(out.iterdir()):
        raise PonderError(f"{out}: exists and is not empty; remove it or choose another folder")
    model, tok = load_gguf(src, "float32")
    fresh = plain_copy(model, dtype)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        fresh.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        reloaded_tok = AutoTokenizer.from_pretrained(tmp)
        if probe_ids(reloaded_tok) != probe_ids(tok):
            raise PonderError(
                f"{src}: the tokenizer saved from this GGUF file gives other token ids after reloading; "
                "transformers rebuilds it differently from its class"
            )
        import torch

        reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=getattr(torch, dtype)).eval()
        error = max_relative_error(probe_logits(model, tok), probe_logits(reloaded, tok))
        if error > RTOL[dtype]:
            raise PonderError(
                f"{src}: the saved model's logits differ from the GGUF model's by {error:.2e} of their "
                f"magnitude (allowed {RTOL[dtype]:.1e})"
            )
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the published folder is an ordinary one
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ImportSummary(
        out=out,
        architecture=type(fresh).__name__,
        parameters=sum(p.numel() for p in fresh.parameters()),
        dtype=dtype,
        max_logit_error=error,
    )
