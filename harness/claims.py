"""One live process per cell: a claim file per config hash, taken atomically.

`<results_dir>/claims/<config_hash>.json` names the sweep process running the cell (and its
child, once started), their host and start times. A sweep takes the claim before running a
cell and removes it after the cell's row is written. A claim whose processes are all gone
(the sweep was killed: its cell died with it, see harness.lifetime) is stale and is taken
over. Claims from another host cannot be checked and are honoured; delete the file to
override. Check-and-take is serialised per results folder with an advisory lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.lifetime import process_alive, process_start_time

CLAIMS_SUBDIR = "claims"


@dataclass
class Claim:
    path: Path
    host: str
    pids: dict[str, Optional[str]] = field(default_factory=dict)  # pid -> start time

    def is_live(self) -> bool:
        if self.host != socket.gethostname():
            return True
        return any(process_alive(int(pid), start) for pid, start in self.pids.items())

    def describe(self) -> str:
        return f"pid {', '.join(self.pids) or '?'} on {self.host}"

    def add_process(self, pid: int) -> None:
        """Record the cell's child process too (rewritten atomically)."""
        self.pids[str(pid)] = process_start_time(pid)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"host": self.host, "pids": self.pids}))
        os.replace(tmp, self.path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def _read(path: Path) -> Optional[Claim]:
    try:
        data = json.loads(path.read_text())
        return Claim(path, str(data["host"]), {str(k): v for k, v in data["pids"].items()})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Claim(path, "?", {})  # unreadable: written by a process that died mid-write, stale


@contextmanager
def _locked(folder: Path):
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def take(results_dir: str | os.PathLike, config_hash: str) -> tuple[Optional[Claim], Optional[Claim]]:
    """(our claim, None) when this process may run the cell, else (None, the live claim)."""
    folder = Path(results_dir) / CLAIMS_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{config_hash}.json"
    with _locked(folder):
        held = _read(path)
        if held is not None:
            if held.host != "?" and held.is_live():
                return None, held
            path.unlink(missing_ok=True)  # stale: its processes are gone
        me = os.getpid()
        claim = Claim(path, socket.gethostname(), {str(me): process_start_time(me)})
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump({"host": claim.host, "pids": claim.pids}, fh)
    return claim, None
