"""A critic for PPO: a copy of the policy's transformer with a scalar value head in place of the LM head.

``ValueModel(lm)`` takes a causal LM (loaded with :func:`ponder.train.model.load_model`, so packed batches
work), replaces its vocabulary projection by the identity and adds ``head: Linear(hidden, 1)``. Calling
it on a :class:`~ponder.train.packing.TokenBatch` returns ``V(s_t)`` ``[N]`` at the positions that predict
the batch's scored tokens -- the same positions, in the same order, as the policy's log-probs -- so no
``[N, vocab]`` tensor is ever made.

Saved as a model folder that transformers loads unchanged (the body, with its tied or original LM head
as it was loaded) plus ``value_head.safetensors``; :func:`load_value_model` reads both back.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ponder.train.logprobs import forward_logits
from ponder.train.model import load_model
from ponder.train.packing import TokenBatch

HEAD_FILE = "value_head.safetensors"


class ValueModel(torch.nn.Module):
    """Critic: transformer body + ``Linear(hidden, 1)``. ``forward(batch) -> [N]`` values (fp32)."""

    def __init__(self, lm: torch.nn.Module, *, init_std: float = 0.0, seed: int = 0):
        super().__init__()
        self.lm = lm
        # Kept outside the module tree (not a parameter of the critic): only needed to save a complete folder.
        self.__dict__["_lm_head"] = lm.get_output_embeddings()
        lm.set_output_embeddings(torch.nn.Identity())
        hidden = lm.config.hidden_size
        self.head = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=gen) * init_std)
            self.head.bias.zero_()

    @property
    def config(self):
        return self.lm.config

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        hidden = forward_logits(self.lm, batch)  # [N, H]: the identity "head" returns the hidden states
        return self.head(hidden.float()).squeeze(-1)

    def save(self, path: str | Path, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        """Write the body as a transformers folder and the head next to it (``state_dict``: gathered
        weights of a wrapped model, keys as in ``self.state_dict()``)."""
        from safetensors.torch import save_file

        path = Path(path)
        sd = state_dict if state_dict is not None else self.state_dict()
        body = {k[len("lm.") :]: v for k, v in sd.items() if k.startswith("lm.")}
        head = {k[len("head.") :]: v.detach().contiguous() for k, v in sd.items() if k.startswith("head.")}
        self.lm.set_output_embeddings(self._lm_head)
        try:
            if self._lm_head is not None and not getattr(self.lm.config, "tie_word_embeddings", False):
                body["lm_head.weight"] = self._lm_head.weight.detach()
            self.lm.save_pretrained(path, state_dict=body or None, safe_serialization=True)
        finally:
            self.lm.set_output_embeddings(torch.nn.Identity())
        save_file(head, str(path / HEAD_FILE))


def load_value_model(
    path: str | Path, *, init_std: float = 0.0, seed: int = 0, trainable: bool = True
) -> ValueModel:
    """A critic from a policy folder (new value head) or from a saved critic folder (its head restored)."""
    from safetensors.torch import load_file

    vm = ValueModel(load_model(path, trainable=trainable), init_std=init_std, seed=seed)
    head_file = Path(path) / HEAD_FILE
    if head_file.exists():
        vm.head.load_state_dict(load_file(str(head_file)))
    if not trainable:
        vm.eval().requires_grad_(False)
    return vm
