"""A cell's process never outlives the sweep that started it.

If the sweep's own process is killed (`kill -9`, a scheduler, the out-of-memory killer), a
cell left running would finish and write its row while the resumed sweep runs the same cell
again: two `ok` rows for one config. Two guards, both needed:

- the parent asks the kernel to SIGKILL the child when the parent dies (Linux
  `prctl(PR_SET_PDEATHSIG)`, set between fork and exec, so it also covers torchrun);
- the child watches its parent id and exits when it changes (covers torchrun's workers, whose
  parent is torchrun, and the moment between fork and prctl).

Under a parallel launcher (joblib) a cell's parent is a pool worker, not the sweep's own
process, and the worker outlives a killed sweep. So the command line also names the sweep's
process (`PEFT_BENCH_SWEEP`, host:pid, inherited by workers and cells): a cell on the same host
exits when that process is gone, a worker records nothing for a cell whose sweep is gone, and
a worker itself exits then (`watch_sweep`), so a killed sweep leaves no pool behind (and its
pool's resource tracker, whose pipe the workers held, ends with them).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# the parent's pid as the child should see it; set by the sweep for its cells
PARENT_PID_ENV = "PEFT_BENCH_PARENT_PID"
# host:pid of the sweep's own process (the command line), inherited by pool workers and cells
SWEEP_ENV = "PEFT_BENCH_SWEEP"


def mark_sweep_process() -> None:
    """Called once by the command line: this process is the sweep (an outer one wins)."""
    os.environ.setdefault(SWEEP_ENV, f"{socket.gethostname()}:{os.getpid()}")


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, start_time: str | None = None) -> bool:
    """Whether `pid` runs (and, given its recorded `start_time`, is still the same process).
    A killed process its parent has not reaped yet is a zombie: gone for our purpose."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] != "Z" and (start_time is None or fields[19] == start_time)


def sweep_gone() -> bool:
    """True when the sweep process this one belongs to has died. Only checkable on the sweep's
    host: cells a cluster launcher runs elsewhere are tied to their own job instead."""
    host, _, pid = os.environ.get(SWEEP_ENV, "").rpartition(":")
    if not pid.isdigit() or host != socket.gethostname():
        return False
    return not process_alive(int(pid))


_watching_sweep = threading.Event()


def watch_sweep(interval_s: float = 1.0) -> None:
    """In a process the sweep's launcher started to run cells (a joblib pool worker): exit as
    soon as the sweep's own process is gone. No-op in the sweep's process and when already
    watching. Runs in a daemon thread."""
    host, _, pid = os.environ.get(SWEEP_ENV, "").rpartition(":")
    if not pid.isdigit() or host != socket.gethostname() or int(pid) == os.getpid() or _watching_sweep.is_set():
        return
    _watching_sweep.set()

    def loop() -> None:
        while not threading.Event().wait(interval_s):
            if sweep_gone():
                log.error("the sweep this worker ran cells for is gone: stopping")
                os._exit(1)

    threading.Thread(target=loop, name="watch-sweep", daemon=True).start()


def die_with_parent() -> None:
    """`preexec_fn` for a child process: SIGKILL it when its parent dies (Linux; elsewhere the
    parent watch below is the only guard)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def watch_parent(interval_s: float = 0.5) -> None:
    """Exit this process as soon as its parent is gone (its parent id changes: orphans are
    re-parented to init or a subreaper) or the sweep's own process is. Runs in a daemon thread."""
    expected = os.getppid()
    started_by_sweep = os.environ.get(PARENT_PID_ENV)
    # a torchrun worker's parent is torchrun (itself tied to the sweep), not the sweep
    if started_by_sweep and "TORCHELASTIC_RUN_ID" not in os.environ and int(started_by_sweep) != expected:
        os._exit(1)  # the sweep died before this process started watching

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(interval_s):
            if os.getppid() != expected or sweep_gone():
                log.error("the sweep that started this cell is gone: stopping (a resumed sweep reruns it)")
                os._exit(1)

    threading.Thread(target=loop, name="watch-parent", daemon=True).start()
