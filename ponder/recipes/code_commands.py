"""What ``ponder tests generate``, ``ponder pairs code`` and ``ponder pairs code-process`` do after parsing:
open the backend, run the stage, save the summary next to the output and render it as a table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ponder.errors import PonderError
from ponder.eval.report import markdown_table
from ponder.io import write_json


def summary_path(output: Path, given: Path | None) -> Path:
    return given or output.with_name(
        output.name.removesuffix(".jsonl").removesuffix(".parquet") + ".summary.json"
    )


def summary_table(summary: dict[str, Any]) -> str:
    """A two-column Markdown table of a stage summary (nested values shown as ``key=value`` lists)."""
    rows = []
    for k, v in summary.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "–"
        rows.append({"metric": k, "value": v})
    return markdown_table(rows, ["metric", "value"])


def save_and_render(summary: dict[str, Any], path: Path) -> str:
    write_json(path, summary)
    return summary_table(summary) + f"\nsummary: {path}"


def open_generator(
    backend: str,
    model: str,
    *,
    base_url: str | None,
    api_key_env: str,
    batch_size: int,
    dtype: str,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    max_retries: int = 6,
):
    from ponder.generation.stage import check_backend, open_backend

    check_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url)
    return open_backend(
        backend,
        model,
        dtype=dtype,
        batch_size=batch_size,
        base_url=base_url,
        api_key=os.environ.get(api_key_env),
        concurrency=concurrency,
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


def tests_generate(
    *,
    input: Path,
    output: Path,
    source: str,
    backend: str,
    model: str | None,
    base_url: str | None,
    api_key_env: str,
    n_inputs: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    attempts: int,
    min_inputs: int,
    retry_temperature: float,
    fallback: str,
    sampler_seed: int,
    json_mode: bool,
    prompt_template: Path | None,
    batch_size: int,
    dtype: str,
    concurrency: int,
    timeout_s: float,
    max_retries: int,
    summary: Path | None,
) -> str:
    from ponder.feedback.test_inputs_stage import InputSettings, load_input_problems, run_test_inputs
    from ponder.generation.stage import sampling_params

    if output.resolve() == input.resolve():
        raise PonderError("--output must differ from --input")
    try:
        settings = InputSettings(
            n_inputs=n_inputs,
            attempts=attempts,
            min_inputs=min_inputs,
            retry_temperature=retry_temperature,
            fallback=fallback,
            sampler_seed=sampler_seed,
            template=prompt_template.read_text(encoding="utf-8") if prompt_template else None,
        )
    except ValueError as e:
        raise PonderError(str(e)) from None
    except OSError as e:
        raise PonderError(f"--prompt-template {prompt_template}: {e.strerror or e}") from None
    problems = load_input_problems(input, source)
    if source == "sampler":
        s = run_test_inputs(problems, output, source="sampler", settings=settings)
    else:
        if not model:
            raise PonderError("--model is required with --from llm (the model that writes the inputs)")
        params = sampling_params(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        with open_generator(
            backend,
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            batch_size=batch_size,
            dtype=dtype,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
        ) as gen:
            s = run_test_inputs(
                problems,
                output,
                source="llm",
                generator=gen,
                params=params,
                settings=settings,
                json_mode=json_mode,
            )
    return save_and_render(s, summary_path(output, summary))


def pairs_code(
    *,
    problems: Path,
    samples: Path,
    output: Path,
    scores: Path | None,
    summary: Path | None,
    workers: int,
    **settings: Any,
) -> str:
    from ponder.pairs.code_stage import CodePairSettings, run_code_pairs

    try:
        cfg = CodePairSettings(**settings)
    except ValueError as e:
        raise PonderError(str(e)) from None
    s = run_code_pairs(problems, samples, output, cfg, scores_path=scores, workers=workers)
    return save_and_render(s, summary_path(output, summary))


def pairs_code_process(
    *,
    problems: Path,
    samples: Path,
    output: Path,
    scores: Path | None,
    values: Path | None,
    summary: Path | None,
    backend: str,
    model: str,
    base_url: str | None,
    api_key_env: str,
    tokenizer: str | None,
    batch_size: int,
    dtype: str,
    workers: int,
    **settings: Any,
) -> str:
    from ponder.pairs.code_process_stage import CodeProcessSettings, run_code_process

    try:
        cfg = CodeProcessSettings(**settings)
        cfg.sampling()
    except ValueError as e:
        raise PonderError(str(e)) from None
    tok = None
    if tokenizer:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(tokenizer)
        except (OSError, ValueError) as e:
            raise PonderError(f"--tokenizer {tokenizer}: cannot load it: {str(e).splitlines()[0]}") from None
    with open_generator(
        backend, model, base_url=base_url, api_key_env=api_key_env, batch_size=batch_size, dtype=dtype
    ) as gen:
        s = run_code_process(
            problems,
            samples,
            output,
            gen,
            cfg,
            scores_path=scores,
            values_path=values,
            tokenizer=tok,
            workers=workers,
        )
    return save_and_render(s, summary_path(output, summary))
