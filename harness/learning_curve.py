"""A run's learning curve (its dev score after every epoch) and whether it had levelled off.

A row whose best score came in its last epoch, more than half a point above the epoch before,
was still climbing when the schedule stopped: it reports the budget, not what the method can
reach. Such rows are flagged `plateaued = false` and the reports mark them.
"""

from __future__ import annotations

import json

CLIMBING = 0.005  # half a point, on the 0-1 scale scores are recorded in


def plateaued(curve: list[float | None]) -> bool | None:
    """False when the best score is the last epoch's and more than half a point above the
    previous epoch's; True otherwise; None for fewer than two scored epochs."""
    scores = [s for s in curve if s is not None]
    if len(scores) < 2:
        return None
    best = max(scores)
    still_climbing = scores[-1] == best and scores[-1] - scores[-2] > CLIMBING
    return not still_climbing


def better(score: float | None, than: float | None) -> bool:
    """Whether a dev score beats another; a missing score beats nothing. A score of 0 (a collapsed
    regression head's Pearson, a constant classifier's MCC) is a score, above a negative one."""
    return score is not None and (than is None or score > than)


def encode(curve: list[float | None]) -> str:
    return json.dumps([None if s is None else round(float(s), 6) for s in curve])


def decode(text: str | None) -> list[float | None]:
    return json.loads(text) if text else []
