"""The SFT recipe's settings: how to train (:class:`SFTSettings`, what other recipes nest) and what on
(:class:`SFTConfig` adds the model, the data and the run folder). Torch-free, so the command line and the
configs of other recipes can read it cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ponder.config import option
from ponder.train.settings import TrainRun, TrainSettings


@dataclass(frozen=True)
class SFTSettings(TrainSettings):
    """How SFT trains (``ponder train sft`` options, ThinkPO's ``sft:`` section): the trainer's settings and
    the examples per step."""

    sample_filter: Literal["all", "correct"] = option(
        "all", help="For ponder sample files: train on every response, or only on those graded correct."
    )
    examples_per_step: int = option(
        32, help="Examples (prompt + response) per optimizer step, over all processes."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.examples_per_step <= 0:
            raise ValueError("examples_per_step must be positive")


@dataclass(frozen=True, kw_only=True)
class SFTConfig(TrainRun, SFTSettings):
    """One SFT run: the settings, plus the model to start from, the data and the run folder."""
