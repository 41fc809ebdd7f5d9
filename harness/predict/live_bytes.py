"""Live tensor bytes over a training step, op by op: the counter behind `mode=predict`.

A TorchDispatchMode sees every tensor an op creates; each new storage is counted from its
creation until Python frees it (a weak reference's callback), so the running total is exactly
the bytes of tensors alive at each moment, which is what torch's caching allocator reports as
allocated (before its block rounding). The same counter runs on real tensors (a real CPU step,
to check a prediction) and on fake ones (FakeTensorMode: shapes and dtypes, no data, no
device), which is how a 7B step is "run" on a laptop in seconds.

Each storage carries a category, so the peak can be split the way a user reasons about it:
  weights      parameters and buffers alive before the step
  gradients    storages that became a parameter's .grad (re-tagged when accumulated)
  optimizer    created inside optimizer.step (AdamW's moments and its temporaries)
  activations  everything else: saved activations, logits and loss, backward temporaries

The timeline (live bytes per category after every op) is kept, so that two traces at batch
sizes 1 and 2 give every batch size by linearity (`at_batch`): each tensor of a step with
fixed sequence length is either independent of the batch or proportional to it.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

CATEGORIES = ("weights", "gradients", "optimizer", "activations")
WEIGHTS, GRADIENTS, OPTIMIZER, ACTIVATIONS = range(4)


@dataclass
class Timeline:
    """Live bytes per category (columns: CATEGORIES) after each op of the traced step."""
    live: np.ndarray  # shape (ops, 4), int64

    @property
    def total(self) -> np.ndarray:
        return self.live.sum(axis=1)

    def peak(self) -> tuple[int, dict[str, int]]:
        """(peak live bytes, the split by category at that moment)."""
        i = int(np.argmax(self.total))
        return int(self.total[i]), dict(zip(CATEGORIES, (int(v) for v in self.live[i])))


def at_batch(one: Timeline, two: Timeline, batch_size: int) -> Timeline:
    """The timeline at `batch_size` from traces at batch 1 and 2 of the same step (each op's live
    bytes are affine in the batch size). Raises ValueError if the two traces ran different ops."""
    if one.live.shape != two.live.shape:
        raise ValueError(f"traces differ in length ({len(one.live)} vs {len(two.live)} ops)")
    return Timeline(one.live + (batch_size - 1) * (two.live - one.live))


def _storages(tensor: torch.Tensor):
    if type(tensor) is not torch.Tensor and hasattr(tensor, "__tensor_flatten__") \
            and not isinstance(tensor, torch._subclasses.fake_tensor.FakeTensor):
        names, _ = tensor.__tensor_flatten__()  # a wrapper subclass: count what it holds
        for name in names:
            yield from _storages(getattr(tensor, name))
        return
    try:
        yield tensor.untyped_storage()
    except (RuntimeError, NotImplementedError):  # e.g. a tensor without storage
        return


class LiveBytes(TorchDispatchMode):
    """Count live storages while active. `register(tensors, category)` adds tensors that exist
    before the step (parameters, buffers); `optimizer_step()` marks storages created inside it;
    `track_gradients(params)` re-tags a parameter's .grad when it is accumulated."""

    def __init__(self):
        super().__init__()
        self._info: WeakIdKeyDictionary = WeakIdKeyDictionary()  # storage -> [bytes, category]
        self._live = [0, 0, 0, 0]
        self._rows: list[tuple[int, int, int, int]] = []
        self._category = ACTIVATIONS
        self._hooks = []

    def _add(self, storage, category: int) -> None:
        if storage in self._info:
            return
        nbytes = storage.nbytes()
        entry = [nbytes, category]
        self._info[storage] = entry
        self._live[category] += nbytes
        weakref.finalize(storage, self._free, entry)

    def _free(self, entry) -> None:
        self._live[entry[1]] -= entry[0]

    def _retag(self, tensor: torch.Tensor, category: int) -> None:
        for storage in _storages(tensor):
            entry = self._info.get(storage)
            if entry is None:
                self._add(storage, category)
            elif entry[1] != category:
                self._live[entry[1]] -= entry[0]
                self._live[category] += entry[0]
                entry[1] = category
        self._rows.append(tuple(self._live))

    def register(self, tensors, category: int) -> None:
        for t in tensors:
            for storage in _storages(t):
                self._add(storage, category)
        self._rows.append(tuple(self._live))

    def track_gradients(self, params) -> None:
        for p in params:
            self._hooks.append(p.register_post_accumulate_grad_hook(
                lambda param: self._retag(param.grad, GRADIENTS)))

    @contextlib.contextmanager
    def optimizer_step(self):
        self._category = OPTIMIZER
        try:
            yield
        finally:
            self._category = ACTIVATIONS

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                for storage in _storages(t):
                    self._add(storage, self._category)
        self._rows.append(tuple(self._live))
        return out

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        return super().__exit__(*exc)

    def timeline(self) -> Timeline:
        return Timeline(np.asarray(self._rows, dtype=np.int64).reshape(-1, 4))
