"""The one plurality vote: PFPO's pseudo labels, ``ponder grade``'s vote, maj@k and voted code outputs.

``plurality(items, key)`` clusters the items by ``key`` (an item whose key is None -- no answer -- joins no
cluster and never wins), optionally merges clusters whose first items ``same`` calls equal, and returns a
:class:`Vote`: the winning cluster's first item, its size, its share and every cluster. The winner is the
largest cluster; a tie goes to the cluster whose first item came first.

What ``share`` is divided by is the caller's choice of items, so each use states it:

- math answers (:func:`ponder.verify.math.majority_vote`: labels, ``ponder grade``, maj@k): every sampled
  response is an item, those without an answer included -- PFPO keeps a label when its count over *all*
  n samples is above the threshold;
- code outputs (:func:`ponder.feedback.pseudo_tests.vote_outputs`): the items are the runs that finished
  successfully on one input -- a program that crashed casts no vote, so the share is votes / successes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cluster:
    """Items voted together: ``answer`` is the first item of the largest key group merged into it (the
    first item of the cluster when nothing was merged), ``indices`` the positions of all of them."""

    answer: Any
    indices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Vote:
    """The winning answer, its number of votes, ``count / len(items)``, and every cluster (largest first,
    ties by first position). ``answer`` is None when no item had a key."""

    answer: Any
    count: int
    share: float
    clusters: tuple[Cluster, ...] = field(default=(), compare=False, repr=False)

    @property
    def winner(self) -> Cluster | None:
        return self.clusters[0] if self.clusters else None

    def labels(self, n: int) -> list[int | None]:
        """For each of the ``n`` items, the number of its cluster (0 = the winner), None for no key."""
        out: list[int | None] = [None] * n
        for c, cluster in enumerate(self.clusters):
            for i in cluster.indices:
                out[i] = c
        return out


def plurality(
    items: Sequence[Any],
    key: Callable[[Any], Hashable | None],
    *,
    same: Callable[[Any, Any, float], bool] | None = None,
    deadline: float | None = None,
) -> Vote:
    """Vote over ``items`` (see the module docstring).

    ``same(a, b, seconds_left)`` merges clusters the key kept apart (equivalent answers in rarer forms); it
    is asked about the first items of clusters, largest clusters first, so the work grows with the number of
    distinct keys. With ``deadline`` (a :func:`time.monotonic` time) those calls stop when it passes: the
    clusters not compared by then stay apart, so a vote returns in bounded time whatever the items are.
    """
    by_key: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        k = key(item)
        if k is not None:
            by_key.setdefault(k, []).append(i)
    groups: list[tuple[int, list[int]]] = []  # (first item of the founding cluster, every member)
    for members in sorted(by_key.values(), key=lambda m: (-len(m), m[0])):
        target = None
        for founder, group in groups if same is not None else ():
            left = float("inf") if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            if same(items[members[0]], items[founder], left):
                target = group
                break
        if target is None:
            groups.append((members[0], list(members)))
        else:
            target.extend(members)
            target.sort()
    clusters = tuple(
        Cluster(items[founder], tuple(group))
        for founder, group in sorted(groups, key=lambda g: (-len(g[1]), g[1][0]))
    )
    if not clusters:
        return Vote(answer=None, count=0, share=0.0)
    best = clusters[0]
    return Vote(answer=best.answer, count=best.count, share=best.count / len(items), clusters=clusters)
