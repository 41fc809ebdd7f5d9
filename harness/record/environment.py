"""What a run ran on: library versions, device, git commit. Recorded in every row."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path

from harness.precision import cpu_native_bf16

_REPO = Path(__file__).resolve().parents[2]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_columns(device: str) -> dict:
    """Row columns describing the software and hardware of this process."""
    import torch

    on_cuda = device.startswith("cuda")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "hostname": socket.gethostname(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "transformers_version": _version("transformers"),
        "peft_version": _version("peft"),
        "accelerate_version": _version("accelerate"),
        "bitsandbytes_version": _version("bitsandbytes"),
        "device": "cuda" if on_cuda else "cpu",
        "device_name": torch.cuda.get_device_name(torch.device(device)) if on_cuda else cpu_name(),
        "device_count": torch.cuda.device_count() if on_cuda else 0,
        "cpu_threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu_native_bf16(),
        "cuda_version": torch.version.cuda,
    }
