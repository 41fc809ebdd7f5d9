"""Step timing and steady-state throughput.

The clock is read after synchronising the device, so a step's time includes its kernels.
The first `warmup_steps` optimizer steps (allocator growth, kernel selection, caches) are
excluded from the steady-state numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StepTimer:
    device: torch.device
    warmup_steps: int = 3
    step_s: list[float] = field(default_factory=list)
    step_examples: list[int] = field(default_factory=list)
    step_tokens: list[int] = field(default_factory=list)
    step_padded_tokens: list[int] = field(default_factory=list)
    _t0: float = 0.0

    def start(self) -> None:
        synchronize(self.device)
        self._t0 = time.perf_counter()

    def stop(self, examples: int, tokens: int, padded_tokens: int | None = None) -> float:
        synchronize(self.device)
        elapsed = time.perf_counter() - self._t0
        self.step_s.append(elapsed)
        self.step_examples.append(examples)
        self.step_tokens.append(tokens)
        self.step_padded_tokens.append(tokens if padded_tokens is None else padded_tokens)
        return elapsed

    def columns(self) -> dict:
        """examples/s and tokens/s over the steady steps (all steps if there are no others)."""
        skip = self.warmup_steps if len(self.step_s) > self.warmup_steps else 0
        s = np.asarray(self.step_s[skip:])
        if s.size == 0 or s.sum() <= 0:
            return {"train_examples_per_s": None, "train_tokens_per_s": None, "train_padded_tokens_per_s": None,
                    "step_time_median_s": None, "step_time_p90_s": None}
        return {"train_examples_per_s": float(sum(self.step_examples[skip:]) / s.sum()),
                "train_tokens_per_s": float(sum(self.step_tokens[skip:]) / s.sum()),
                "train_padded_tokens_per_s": float(sum(self.step_padded_tokens[skip:]) / s.sum()),
                "step_time_median_s": float(np.median(s)),
                "step_time_p90_s": float(np.percentile(s, 90))}
