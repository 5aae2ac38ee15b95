"""Writing GGUF files from ponder's tiny models, so import tests need no downloaded file.

``write_gguf(model_dir, path, arch, qtype)`` lays a Hugging Face folder out as llama.cpp does: its hyper-
parameters under ``ARCH.*`` keys, the byte-level BPE vocabulary, merges, special ids and chat template under
``tokenizer.*``, and every weight under its GGUF name. For ``llama`` the query and key rows are permuted into
llama.cpp's rotary layout (transformers undoes it on load); tied embeddings are written once, with no
``output.weight``. ``qtype`` F32 stores the weights exactly; Q8_0 stores each row of 32 values as one scale
(max |w| / 127, in float16) and 32 int8 values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotary layout -> llama.cpp's (each head's two halves interleaved)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model_dir: Path, path: Path, arch: str = "qwen2", qtype: str = "F32") -> Path:
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(model_dir)
    c = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"ponder tiny {arch}")
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_freq_base(float(c.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(c.rms_norm_eps))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "Q8_0" else gguf.LlamaFileType.ALL_F32)

    backend = json.loads(tok.backend_tokenizer.to_str())["model"]
    tokens = tok.convert_ids_to_tokens(list(range(len(tok))))
    specials = {t.content for t in tok.added_tokens_decoder.values() if t.special}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in backend["merges"]])
    writer.add_eos_token_id(tok.eos_token_id)
    writer.add_pad_token_id(tok.pad_token_id)
    writer.add_add_bos_token(False)
    writer.add_chat_template(tok.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], c.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert name is not None, hf_name
        w = tensor.numpy()
        if arch == "llama" and ".attn_q." in name:
            w = _llama_permute(w, c.num_attention_heads)
        elif arch == "llama" and ".attn_k." in name:
            w = _llama_permute(w, c.num_key_value_heads)
        if qtype == "Q8_0" and w.ndim == 2:
            q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def llama_from_tiny(tiny_dir: Path, out: Path) -> Path:
    """A LlamaForCausalLM (no attention biases, SmolLM2's layout) with the tiny model's sizes and tokenizer,
    random weights drawn from a fixed seed."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    c = AutoConfig.from_pretrained(tiny_dir)
    config = LlamaConfig(
        vocab_size=c.vocab_size,
        hidden_size=c.hidden_size,
        intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers,
        num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads,
        max_position_embeddings=c.max_position_embeddings,
        rms_norm_eps=c.rms_norm_eps,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=c.eos_token_id,
        pad_token_id=c.pad_token_id,
    )
    torch.manual_seed(1)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # norms away from 1 so a wrong norm mapping shows in the logits
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_dir).save_pretrained(out)
    return out
