"""The ``ponder pairs thinkpo`` stage: long solutions + short samples -> ThinkPO pairs, summary, histogram.

Reads both files in full and checks them before any output exists (a bad record stops the stage with one
line naming file, line and field). Decisions are made for every long solution first -- the share of pairs
with a wrong short answer needs the count of right ones -- then the pairs are written through
:class:`~ponder.io.StageWriter`: a killed run resumes, skipping the ids already written, and makes the same
decisions again, so nothing is lost or duplicated. The summary (``OUT.summary.json``, printed too) and the
length-gap histogram (``OUT.gaps.png``) describe the whole output, resumed part included.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ponder.errors import PonderError
from ponder.io import StageWriter, write_json
from ponder.pairs.solutions import Solutions, load_solutions, prompt_id
from ponder.pairs.thinkpo import (
    KEPT,
    Judgement,
    ThinkPOPairSettings,
    count_tokens,
    hf_token_counter,
    judge,
    make_pair,
    settle_wrong_short,
    summarize,
)
from ponder.progress import progress
from ponder.ranks import main_only

CHUNK = 16


def side_paths(output: str | Path) -> tuple[Path, Path]:
    """Where the summary and the histogram go: ``pairs.jsonl`` -> ``pairs.summary.json``, ``pairs.gaps.png``."""
    out = Path(output)
    stem = out.name
    for suffix in (".jsonl", ".json", ".parquet", ".pq"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return out.with_name(stem + ".summary.json"), out.with_name(stem + ".gaps.png")


@main_only
def build_thinkpo_pairs(
    long_path: str | Path,
    short_path: str | Path,
    output: str | Path,
    settings: ThinkPOPairSettings = ThinkPOPairSettings(),
    *,
    token_counter: Callable[[list[str]], list[int]] | None = None,
    tokenizer: str | None = None,
    plot: bool = True,
) -> dict:
    """Write the pairs to ``output`` and return the summary (also saved next to it; see :func:`side_paths`).

    ``long_path``: long solutions in any kind :mod:`ponder.pairs.solutions` reads (problem files give
    ``meta.long``); ``short_path``: short samples, same kinds (problem files give ``meta.short``).
    ``token_counter``: counts tokens of a list of texts (e.g. :func:`~ponder.pairs.thinkpo.hf_token_counter`);
    ``tokenizer`` (a model folder or hub name) gives one; without either both files must carry ``num_tokens``.
    """
    if token_counter is None and tokenizer is not None:
        token_counter = hf_token_counter(tokenizer)
    longs = list(load_solutions(long_path, style="long").values())
    shorts = load_solutions(short_path, style="short")
    try:
        unit = count_tokens(longs, token_counter, str(long_path))
        count_tokens(list(shorts.values()), token_counter, str(short_path))
    except ValueError as e:
        raise PonderError(f"{e} (--tokenizer MODEL)") from None
    by_prompt = {prompt_id(s.prompt): s for s in shorts.values()}
    jobs = [(lg, shorts.get(lg.id) or by_prompt.get(prompt_id(lg.prompt)), settings) for lg in longs]
    judgements = list(
        progress(_judge_all(jobs, settings.workers), total=len(jobs), desc="thinkpo pairs", unit="pair")
    )
    settle_wrong_short(judgements, settings)
    summary = summarize(
        judgements, long_records=len(longs), short_records=len(shorts), unit=unit, settings=settings
    )
    summary["resumed"] = 0
    with StageWriter(
        output, settings={"conversational": settings.conversational}, drop_unchecked=True
    ) as writer:
        for (lg, short, _), j in zip(jobs, judgements, strict=True):
            if j.reason != KEPT:
                continue
            pair = make_pair(lg, short, j, conversational=settings.conversational)
            if writer.has(lg.id, pair):
                summary["resumed"] += 1
            else:
                writer.write(pair)
    summary_path, plot_path = side_paths(output)
    summary["output"] = str(output)
    if plot and summary["kept"]:
        summary["plot"] = str(gap_plot(plot_path, [j.gap for j in judgements if j.reason == KEPT]))
    write_json(summary_path, summary)
    summary["summary_path"] = str(summary_path)
    return summary


def _judge_one(job: tuple[Solutions, Solutions | None, ThinkPOPairSettings]) -> Judgement:
    return judge(*job)


def _judge_all(jobs: list, workers: int) -> Iterator[Judgement]:
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < 4 * CHUNK:
        yield from map(_judge_one, jobs)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_judge_one, jobs, chunksize=CHUNK)


def gap_plot(path: str | Path, gaps: Iterable[int]) -> Path:
    """Histogram of the chosen-minus-rejected token gaps of the kept pairs, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ponder.io import atomic_path

    gaps = list(gaps)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist(gaps, bins=min(40, max(1, len(set(gaps)))), color="C0")
    ax.set_xlabel("length gap: chosen - rejected (tokens)")
    ax.set_ylabel("pairs")
    ax.set_title(f"ThinkPO pairs: {len(gaps)} kept")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
