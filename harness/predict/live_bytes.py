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
  optimizer    AdamW's moments, and what optimizer.step creates
  activations  saved activations and backward temporaries
  logits       what a causal LM's output layer and loss create in the forward pass (the logits,
               their fp32 upcast, the log-softmax kept for backward)

`round_to` rounds every storage up as an allocator would (512 bytes: torch's CUDA caching
allocator), so the count is what torch.cuda.memory_allocated() would say.

`collect_every(n)`: on fake tensors, the recomputation of activation checkpointing leaves its
tensors in reference cycles (closures inside FakeTensorMode's dispatch) that only Python's
garbage collector frees, while on real tensors the same tensors are freed as soon as the layer's
backward is done. Collecting garbage every n ops (a few times per layer, with everything older
frozen out of the collector's way, so a collection is cheap) makes the fake count follow the
real one (tests/predict/test_exact_on_cpu.py checks checkpointed steps too).
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

CATEGORIES = ("weights", "gradients", "optimizer", "activations", "logits")
WEIGHTS, GRADIENTS, OPTIMIZER, ACTIVATIONS, LOGITS = range(5)


@dataclass
class Timeline:
    """Live bytes per category (columns: CATEGORIES) after each op of the traced step."""
    live: np.ndarray  # shape (ops, len(CATEGORIES)), int64

    @property
    def total(self) -> np.ndarray:
        return self.live.sum(axis=1)

    def peak(self) -> tuple[int, dict[str, int]]:
        """(peak live bytes, the split by category at that moment)."""
        i = int(np.argmax(self.total))
        return int(self.total[i]), dict(zip(CATEGORIES, (int(v) for v in self.live[i])))


def tensors_of(out):
    """The tensors of an op's output or arguments (a tensor, or nested tuples/lists of them). Written without
    a closure: torch's tree_flatten makes a self-referencing one per call, and its reference
    cycle kept the output alive until the garbage collector ran."""
    stack = [out]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dict):  # an op's keyword arguments
            stack.extend(item.values())


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

    def __init__(self, round_to: int = 1):
        super().__init__()
        self._collecting = False
        self._every = 0
        self.ops = 0
        self._info: WeakIdKeyDictionary = WeakIdKeyDictionary()  # storage -> [bytes, category]
        self._live = [0] * len(CATEGORIES)
        self._round_to = round_to
        self._rows: list[tuple[int, ...]] = []  # live bytes per category after each op
        self._category = ACTIVATIONS
        self._hooks = []

    def _add(self, storage, category: int) -> None:
        if storage in self._info:
            return
        nbytes = -(-storage.nbytes() // self._round_to) * self._round_to
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

    def track_logits(self, model, output_layer) -> None:
        """Tag what `output_layer` and the rest of `model`'s forward (the loss) create."""
        def start(*_):
            self._category = LOGITS

        def end(*_):
            self._category = ACTIVATIONS
        self._hooks.append(output_layer.register_forward_pre_hook(start))
        self._hooks.append(model.register_forward_hook(end))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tensors_of(out):
            for storage in _storages(t):
                self._add(storage, self._category)
        self._rows.append(tuple(self._live))
        self.ops += 1
        if self._every and self.ops % self._every == 0:
            gc.collect()
        return out

    def collect_every(self, ops: int) -> None:
        if not self._collecting:
            gc.collect()
            gc.freeze()  # what exists now is not garbage: keep it out of every collection
            self._collecting = True
        self._every = max(1, ops)

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        if self._collecting:
            gc.unfreeze()
            self._collecting = False
        return super().__exit__(*exc)

    def timeline(self) -> Timeline:
        return Timeline(np.asarray(self._rows, dtype=np.int64).reshape(-1, len(CATEGORIES)))
