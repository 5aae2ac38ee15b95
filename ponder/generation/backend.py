"""How a stage reaches its model: the backend settings every generating command and recipe shares.

:class:`BackendSettings` is the one declaration of the backend / dtype / batch / endpoint options: the
commands that generate (``generate``, ``eval``, ``pairs process``, ``pairs code-process``, ``tests generate``,
``thinker infer``, ``serve``) take their options from it, and recipe configs nest it (``generation:``).
``settings.open(model)`` checks the options and returns a :class:`~ponder.generation.base.Generator`; a bad
option or a model that does not load becomes one line naming the option. :func:`model_name` and
:func:`model_identity` say which model a run used (its display name; what its resume fingerprints hold).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder import ranks
from ponder.config import option
from ponder.errors import PonderError
from ponder.generation import warm
from ponder.generation.base import Generator


@dataclass(frozen=True)
class BackendSettings:
    """The model backend of a stage (defaults: transformers on this machine)."""

    backend: Literal["hf", "openai", "vllm"] = option(
        "hf", help="Backend: hf (transformers), openai (an OpenAI-compatible endpoint) or vllm."
    )
    base_url: str | None = option(None, help="Endpoint for --backend openai, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = option("OPENAI_API_KEY", help="Environment variable holding the API key (openai).")
    tokenizer: str | None = option(
        None,
        help="Tokenizer with the chat template, for stages that continue a rendered prompt (default: the "
        "model's; needed with --backend openai).",
    )
    batch_size: int = option(32, help="Sequences per forward pass (hf).")
    device: Literal["auto", "cpu", "cuda"] = option(
        "auto",
        help="Where the model runs (hf): auto (this process's GPU, cuda:LOCAL_RANK, when there is one; else "
        "the CPU), cpu or cuda.",
    )
    dtype: Literal["auto", "float32", "bfloat16"] = option(
        "auto",
        help="Weights dtype (hf, vllm): auto (bfloat16 on a GPU, float32 on the CPU), float32 or bfloat16.",
    )
    tensor_parallel_size: int = option(1, help="GPUs one vLLM engine shards the model over (vllm).")
    gpu_memory_utilization: float | None = option(
        None,
        help="Share of each GPU's memory vLLM may take for weights and KV cache (vllm; null: vLLM's default, "
        "0.9; on the CPU a fixed 1 GiB KV cache instead).",
    )
    max_model_len: int | None = option(
        None, help="Longest prompt + answer in tokens vLLM plans its KV cache for (vllm; null: the model's)."
    )
    enforce_eager: bool = option(
        False, help="Run vLLM without CUDA graphs: slower steps, faster start, less memory (vllm)."
    )
    concurrency: int = option(8, help="Requests in flight at once (openai).")
    timeout: float = option(120.0, help="Seconds per request before it is retried (openai).")
    max_retries: int = option(6, help="Retries on 429/5xx/connection errors, with backoff (openai).")
    threads: int = option(
        0,
        help="Torch CPU threads (0: torch's default, one per core; 1 is fastest for tiny models on a busy "
        "machine).",
    )

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}")
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.backend == "openai":
            if not self.base_url:
                raise ValueError("base_url is required with backend openai (e.g. http://127.0.0.1:8000/v1)")
        elif self.base_url:
            raise ValueError(f"base_url only applies to backend openai, not {self.backend}")

    def check(self, model: str, *, fan_out: bool = False) -> None:
        """Check the model name and the fan-out without loading anything."""
        if self.backend == "openai":
            if fan_out:
                raise PonderError(
                    "--workers and --ray-address apply to hf and vllm; for --backend openai raise "
                    "--concurrency instead"
                )
            return
        if not Path(model).exists() and (
            model.startswith(("/", ".", "~")) or model.count("/") > 1 or model.endswith("/")
        ):
            raise PonderError(f"--model {model}: no such folder")

    def torch_device(self) -> str:
        """The device the hf backend loads the model on: ``cuda:LOCAL_RANK`` (auto, cuda) or ``cpu``."""
        import torch

        if self.device == "cpu" or (self.device == "auto" and not torch.cuda.is_available()):
            return "cpu"
        if not torch.cuda.is_available():
            raise PonderError("--device cuda: no CUDA device is visible to this process")
        local, count = ranks.current().local, torch.cuda.device_count()
        if local >= count:
            raise PonderError(f"--device {self.device}: LOCAL_RANK {local} but only {count} CUDA device(s)")
        return f"cuda:{local}"

    def torch_dtype(self, device: str) -> str:
        """The weights dtype: ``dtype``, or for auto bfloat16 on a GPU (``device`` cuda...) and float32 on the
        CPU."""
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if device.startswith("cuda") else "float32"

    def engine_options(self) -> dict[str, Any]:
        """The keyword arguments of the vLLM engine (``vllm.LLM``) these settings ask for."""
        import torch

        gpu = torch.cuda.is_available()
        options: dict[str, Any] = {
            "dtype": self.torch_dtype("cuda" if gpu else "cpu"),
            "tensor_parallel_size": self.tensor_parallel_size,
            "enforce_eager": self.enforce_eager,
        }
        if self.gpu_memory_utilization is not None:
            options["gpu_memory_utilization"] = self.gpu_memory_utilization
        if self.max_model_len is not None:
            options["max_model_len"] = self.max_model_len
        world = ranks.current().world
        if world > 1:
            # Under torchrun / accelerate each process runs its own engine on its own device and its own share
            # of the records (ponder.ranks): vLLM's external launcher mode, data-parallel over the processes.
            if self.tensor_parallel_size != 1:
                raise PonderError(
                    f"--tensor-parallel-size {self.tensor_parallel_size}: under {world} processes each runs its "
                    "own engine (tensor_parallel_size 1); run the stage as one process to shard one engine"
                )
            options |= {"distributed_executor_backend": "external_launcher", "data_parallel_size": world}
        return options

    def open(self, model: Any, *, fan_out: Any = None) -> Generator:
        """A generator for ``model``; ``fan_out`` (a :class:`~ponder.generation.stage.GenerateSettings`, or
        anything with its ``workers``, ``ray_address``, ``cpus_per_worker`` and ``gpus_per_worker``) puts
        ``workers`` copies on Ray instead. Sets the torch threads first."""
        from ponder.generation import make_generator

        if isinstance(model, str | Path):
            self.check(str(model), fan_out=fan_out is not None)
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        if fan_out is not None:
            from ponder.generation.ray_pool import RayGenerator

            # Each Ray worker sees its own GPU (or none) as cuda:0: the dtype follows what the machine has.
            options = (
                {"dtype": self.torch_dtype(self.torch_device()), "batch_size": self.batch_size}
                if self.backend == "hf"
                else self.engine_options()
            )
            return RayGenerator(
                self.backend,
                model,
                workers=fan_out.workers,
                cpus_per_worker=fan_out.cpus_per_worker,
                gpus_per_worker=fan_out.gpus_per_worker,
                address=fan_out.ray_address,
                **options,
            )
        if self.backend == "openai":
            try:
                return make_generator(
                    "openai",
                    model,
                    base_url=self.base_url,
                    api_key=os.environ.get(self.api_key_env),
                    concurrency=self.concurrency,
                    timeout_s=self.timeout,
                    max_retries=self.max_retries,
                )
            except ValueError as e:
                raise PonderError(f"--concurrency: {e}") from None
        if self.backend == "vllm":
            shared = warm.active()  # inside a run that keeps its engine warm: that engine, else a new one
            if shared is not None:
                return shared.open(model, self.engine_options())
            return warm.start_vllm(model, self.engine_options())
        device = self.torch_device()
        try:
            return make_generator(
                "hf", model, dtype=self.torch_dtype(device), batch_size=self.batch_size, device=device
            )
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PonderError(f"--model {model}: cannot load the model: {first}") from None

    @contextlib.contextmanager
    def use(self, model: Any) -> Iterator[Generator]:
        """A generator for ``model``: a Generator given as ``model`` is used as it is (its owner closes it);
        a model name is checked, opened, and closed afterwards."""
        if isinstance(model, Generator):
            yield model
            return
        self.check(str(model))
        with self.open(model) as generator:
            yield generator

    def chat_tokenizer(self, generator: Generator, model: str):
        """The tokenizer whose chat template renders prompts: ``tokenizer``, else the generator's own, else the
        model folder's (None when there is none to load). A ``tokenizer`` that does not load is a one-line error
        naming ``--tokenizer``."""
        from transformers import AutoTokenizer

        if self.tokenizer is not None:
            try:
                return AutoTokenizer.from_pretrained(self.tokenizer)
            except (OSError, ValueError) as e:
                raise PonderError(
                    f"--tokenizer {self.tokenizer}: cannot load it: {str(e).splitlines()[0]}"
                ) from None
        own = getattr(generator, "tokenizer", None)
        if own is not None:
            return own
        try:
            return AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError):
            return None


def model_name(model: str) -> str:
    """A readable default name: ``runs/dpo/model`` -> ``dpo`` (training writes every model to OUT/model)."""
    path = Path(model)
    return path.parent.name if path.name == "model" and path.parent.name else path.name


def model_identity(generator: Generator) -> dict[str, Any]:
    """What names the model behind ``generator``: backend, model name or folder, and for a local folder
    the names, sizes and modification times of its files (a retrained model in the same folder differs)."""
    model = getattr(generator, "model", None)
    name = getattr(model, "name_or_path", None) if not isinstance(model, str) else model
    llm = getattr(generator, "llm", None)
    if name is None and llm is not None:
        name = llm.llm_engine.model_config.model
    out: dict[str, Any] = {"backend": generator.name, "model": None if name is None else str(name)}
    if getattr(generator, "base_url", None):
        out["base_url"] = generator.base_url
    folder = Path(str(name)) if name else None
    if folder is not None and folder.is_dir():
        out["files"] = sorted(
            (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()
        )
    return out
