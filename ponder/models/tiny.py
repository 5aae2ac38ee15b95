"""Tiny Qwen2-architecture models built locally, with a tokenizer trained on ponder's synthetic text.

``build_tiny_model(out_dir, preset, seed)`` writes a folder that ``AutoModelForCausalLM`` and
``AutoTokenizer.from_pretrained`` load offline (``HF_HUB_OFFLINE=1``), and that vLLM loads unchanged.

Tokenizer: byte-level BPE (so any text, code included, encodes without unknown tokens) trained on
:func:`ponder.tasks.synthetic.corpus`, with exactly Qwen2's normalizer (NFC) and pre-tokenizer (its split
regex, then byte-level). transformers 5 rebuilds those two parts from the Qwen2 tokenizer class when it
loads the folder, so training with anything else would give different ids after a reload.

Chat template: ChatML. Messages are joined by a newline placed *before* each ``<|im_start|>``, so an
assistant turn renders as exactly ``content<|im_end|>`` after the generation prompt: the generated text
plus the end-of-turn token is the whole response, and ``{% generation %}`` marks it for
``return_assistant_tokens_mask``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if not loop.first %}{{- '\\n' }}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{%- if messages %}{{- '\\n' }}{%- endif %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


@dataclass(frozen=True)
class Preset:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int


# Parameter counts with the default 1,024-token vocabulary (embeddings tied): see `count_parameters`.
# Every preset has a head size of 32 or 64: vLLM's CPU attention supports no other small sizes.
PRESETS: dict[str, Preset] = {
    name: Preset(*dims)
    for name, dims in {
        #         hidden  intermediate  layers  heads  kv heads
        "nano": (96, 320, 4, 3, 1),
        "micro": (192, 768, 6, 6, 2),
        "small": (384, 1536, 10, 6, 2),
    }.items()
}


def train_tokenizer(vocab_size: int = 1024):
    """Byte-level BPE with Qwen2's normalizer and pre-tokenizer, trained on the synthetic corpus.

    Deterministic: same corpus, same merges. Returns a ``transformers.Qwen2Tokenizer``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    from ponder.tasks.synthetic import corpus

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    hf = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        bos_token=None,
        additional_special_tokens=[IM_START],
    )
    hf.chat_template = CHAT_TEMPLATE
    hf.model_max_length = 4096
    return hf


def make_config(preset: str, vocab_size: int, eos_id: int, pad_id: int, max_positions: int = 4096):
    from transformers import Qwen2Config

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return Qwen2Config(
        vocab_size=vocab_size,
        **dataclasses.asdict(PRESETS[preset]),  # the Preset's fields are Qwen2Config's names
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        torch_dtype="float32",
    )


def build_tiny_model(
    out_dir: str | Path, preset: str = "nano", seed: int = 0, vocab_size: int = 1024
) -> Path:
    """Write a randomly initialised tiny Qwen2 model and its tokenizer to ``out_dir``; deterministic per seed."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    out = Path(out_dir)
    tok = train_tokenizer(vocab_size)
    eos_id = tok.convert_tokens_to_ids(IM_END)
    pad_id = tok.convert_tokens_to_ids(PAD)
    config = make_config(preset, len(tok), eos_id, pad_id)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    # Re-draw every weight from our own generator so the result depends on the seed only.
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if param.dim() == 1:
                param.copy_(torch.ones_like(param) if "norm" in name else torch.zeros_like(param))
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * config.initializer_range)
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, do_sample=True
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def count_parameters(preset: str, vocab_size: int = 1024) -> int:
    import torch
    from transformers import Qwen2ForCausalLM

    config = make_config(preset, vocab_size, 2, 0)
    with torch.device("meta"):
        model = Qwen2ForCausalLM(config)
    return sum(p.numel() for p in model.parameters())


def build_preset(out_dir: str | Path, preset: str, seed: int) -> str:
    """``ponder tiny-model``: check the preset, build the model, and say what was written."""
    from ponder.errors import PonderError

    if preset not in PRESETS:
        raise PonderError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    out = build_tiny_model(out_dir, preset, seed)
    return f"wrote {preset} model ({count_parameters(preset):,} parameters) to {out}"
