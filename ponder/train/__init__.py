"""Training mechanics shared by the SFT, DPO and RL recipes.

- ``model``: loading policies, references and tokenizers;
- ``encode``: rendering and tokenising under the log-prob convention (docs/training.md);
- ``data``: SFT record readers, data mixtures, the order of examples per step;
- ``packing``: prompt groups, padding-free packing with prompt sharing, the segment attention;
- ``attention``: the packed-attention kernels registered with transformers (FlexAttention, per-segment SDPA);
- ``logprobs``: per-token log-probs (and hidden states, entropy) of a packed or padded batch;
- ``chunked``: the LM head that computes log-probs in token chunks, never the whole logits;
- ``steps``: one optimizer step's micro-batching, accumulation and update; output-folder checks;
- ``optim``: AdamW and learning-rate schedules; ``checkpoint``: resumable checkpoints and the final model;
- ``metrics``: metrics.jsonl and TensorBoard; ``refcache``: cached reference log-probs;
- ``distributed``: the accelerator (FSDP2 on CPU too), references prepared like the policy, work split
  and reductions across processes;
- ``settings``: config fields every training recipe declares the same way.
"""
