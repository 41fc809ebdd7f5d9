"""Whether a run had its CPU cores to itself: the other processes' CPU time on the cores this
process may run on, during the training phase, in cores' worth (the kernel's own counters:
/proc/stat's busy time of those cores, less this process's CPU time). A CPU timing beside other
work is slower by about that share: on 2 cores, one core's worth of other work leaves a 2-thread
run about half its speed. The GPU's counterpart is `gpu_other_processes`.

Linux only (null elsewhere). The cores are those of the process's CPU affinity (a container's
cpuset); a container limited by a CPU quota alone sees its host's cores, and other tenants' work
on them counts as sharing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STAT = Path("/proc/stat")


def _cores() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def busy_seconds(cores: set[int] | None) -> float | None:
    """Seconds the given cores (all when None) have spent busy since boot: user, nice, system,
    irq, softirq and steal time (guest time is inside user); idle and iowait are not busy."""
    try:
        lines = STAT.read_text().splitlines()
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or (cores is not None and int(name[3:]) not in cores):
            continue
        v = [int(x) for x in fields]
        total += v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return total / tick if total else None


class CpuSharing:
    """Context manager around the training phase; `columns()` gives `cpu_others_busy_cores`."""

    def __init__(self):
        self.others: float | None = None
        self._cores = _cores()

    def __enter__(self):
        self._wall, self._busy, self._own = time.perf_counter(), busy_seconds(self._cores), time.process_time()
        return self

    def __exit__(self, *exc) -> bool:
        busy, wall = busy_seconds(self._cores), time.perf_counter() - self._wall
        if self._busy is not None and busy is not None and wall > 0:
            own = time.process_time() - self._own
            self.others = max(0.0, (busy - self._busy - own) / wall)
        return False

    def columns(self) -> dict:
        return {"cpu_others_busy_cores": self.others}
