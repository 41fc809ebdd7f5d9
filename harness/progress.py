"""Progress of long work (training steps, evaluation batches) with elapsed time and ETA.

Off a terminal (a sweep's log, CI) a line is logged at every 10 % and at least every
`every_s` seconds, so a slow cell is never silent for long; on a terminal a live bar is
redrawn in place instead, at most twice a second.
"""

from __future__ import annotations

import logging
import sys
import time


def clock(seconds: float) -> str:
    if seconds != seconds:  # nan: nothing done yet to extrapolate from
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, what: str, total: int, log: logging.Logger, every_s: float = 30.0, live: bool | None = None):
        self.what, self.total, self.log, self.every_s = what, max(1, total), log, every_s
        self.live = sys.stderr.isatty() if live is None else live
        self.start = self.last = time.perf_counter()
        self.done = self.last_tenth = 0

    def eta_s(self, now: float) -> float:
        return (now - self.start) / self.done * (self.total - self.done) if self.done else float("nan")

    def update(self, done: int, detail: str = "") -> None:
        """`done` of `total` finished; `detail` (loss, ex/s) is shown with the line."""
        self.done = done
        now = time.perf_counter()
        tenth = 10 * done // self.total
        finished = done >= self.total
        if self.live:
            if now - self.last >= 0.5 or finished:
                bar = "#" * (20 * done // self.total)
                sys.stderr.write(f"\r{self.what} [{bar:<20}] {done}/{self.total} {detail} "
                                 f"| {clock(now - self.start)} ETA {clock(self.eta_s(now))}  ")
                sys.stderr.write("\n" if finished else "")
                sys.stderr.flush()
                self.last = now
            return
        if tenth > self.last_tenth or now - self.last >= self.every_s or finished:
            self.log.info("%s %d/%d (%d%%)%s | elapsed %s ETA %s", self.what, done, self.total, 100 * done // self.total,
                          f" {detail}" if detail else "", clock(now - self.start), clock(self.eta_s(now)))
            self.last, self.last_tenth = now, tenth
