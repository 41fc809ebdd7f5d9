"""What each op of a traced step costs the hardware: its FLOPs, the bytes it reads and writes,
the kernels it launches, and its class. The step-time model (harness/predict/step_time.py)
turns this table into seconds for a device.

`OpCosts` is a TorchDispatchMode, so it sees the step at the same level as the live-bytes
counter (harness/predict/live_bytes.py): every aten op of forward, backward, gradient clipping
and AdamW, on fake tensors or real ones.

  FLOPs     torch's own formulas (torch.utils.flop_counter's registry: matmuls, convolutions,
            attention), plus the CPU's fused attention kernels, which it does not list; a
            causal attention kernel (is_causal) computes only the unmasked half of the scores
            (FlashAttention, memory-efficient and the CPU's flash kernels skip masked blocks),
            so its FLOPs are halved
  bytes     every distinct input storage the op reads, plus every output it writes, at their
            dtypes (an in-place op is read and written); views move nothing; a gather (an
            embedding lookup, the loss's pick of each label's log-probability) reads only the
            entries it picks: twice what it writes
  kernels   1 per op; 0 for views and allocations; a `_foreach_*` op on a GPU launches one
            multi-tensor kernel per FOREACH_TENSORS_PER_LAUNCH tensors
  passes    an op whose kernel is itself several ops (_safe_softmax, the attention math path's
            softmax: softmax, a -inf test, a row reduction and a select, each a pass over the
            scores) is recorded as those ops, through torch's own decomposition of it
  class     matmul, attention, elementwise (incl. reductions), copy (casts, copies, gathers,
            concatenations), optimizer (clipping and AdamW), view (no kernel)
  kind      how the work is done where a CPU's rates differ: a stream (add, mul, copies: bound
            by memory), a transcendental (exp, erf, sqrt, softmax, GELU, SiLU: bound by the
            vector units on a CPU) or random numbers (dropout's masks)
  shape     of one matrix product: its inner dimension and its output's entries (a batched
            matmul of many small matrices runs at the rate of its small ones)
Ops outside the aten namespace (prim.device and other metadata queries) are not kernels and
are not recorded.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch._decomp import decomposition_table
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count, shape_wrapper

from harness.predict.live_bytes import tensors_of

CLASSES = ("matmul", "attention", "elementwise", "copy", "optimizer", "view")
MATMUL, ATTENTION, ELEMENTWISE, COPY, OPTIMIZER, VIEW = range(len(CLASSES))
KINDS = ("stream", "transcendental", "random", "cast")
STREAM, TRANSCENDENTAL, RANDOM, CAST = range(len(KINDS))
# torch's multi_tensor_apply (ATen/native/cuda/MultiTensorApply.cuh) packs up to 110 tensors
# of one list into a kernel launch (depth 1-2 lists; fewer for AdamW's 4-5 lists: 36 / 48 / 64)
FOREACH_TENSORS_PER_LAUNCH = 48

aten = torch.ops.aten
_MATMUL = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm, aten.convolution, aten.convolution_backward,
           aten._weight_int4pack_mm, aten._int_mm}
_COPY = {aten._to_copy, aten.copy_, aten.clone, aten.cat, aten.stack, aten.index_select, aten.embedding,
         aten.embedding_dense_backward, aten.index, aten.index_put_, aten.index_put, aten._unsafe_index,
         aten.slice_scatter, aten.select_scatter, aten.gather, aten.scatter, aten.scatter_add, aten.scatter_add_,
         aten.constant_pad_nd, aten.repeat, aten.new_zeros, aten.zeros_like, aten.fill_, aten.zero_,
         aten.masked_fill, aten.masked_fill_, aten.where, aten.index_add_, aten.index_add}
_RANDOM = {aten.bernoulli_, aten.bernoulli, aten.native_dropout, aten.rand_like, aten.randn_like, aten.uniform_,
           aten.normal_, aten.rand, aten.randn, aten.randint}
_TRANSCENDENTAL_NAMES = ("exp", "log", "erf", "gelu", "silu", "sigmoid", "tanh", "softmax", "sqrt", "rsqrt", "pow",
                         "sin", "cos", "norm", "div", "reciprocal", "mish", "softplus", "elu")
_GATHER = {aten.embedding, aten.nll_loss_forward, aten.nll_loss_backward, aten.index_select, aten.gather,
           aten.nll_loss2d_forward, aten.nll_loss2d_backward}
# composite kernels that run several passes over their input (ATen calls them one op)
_MULTI_PASS = {aten._safe_softmax}
_NO_KERNEL = {aten.empty, aten.empty_like, aten.empty_strided, aten.new_empty, aten.new_empty_strided,
              aten.detach, aten.alias, aten.lift_fresh, aten.set_, aten.resize_, aten._local_scalar_dense,
              aten.lift_fresh_copy, aten._unsafe_view, aten.sym_size, aten.sym_stride, aten.sym_numel, aten.is_same_size}


def _cpu_attention_flops() -> dict:
    """The CPU's fused attention kernels, which torch's registry does not list: the same counts
    as the CUDA flash kernels a GPU would run."""

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_out, query, key, value)

    return {aten._scaled_dot_product_flash_attention_for_cpu: shape_wrapper(forward),
            aten._scaled_dot_product_flash_attention_for_cpu_backward: shape_wrapper(backward)}


FLOP_FORMULAS = {**flop_registry, **_cpu_attention_flops()}


@dataclass
class OpTable:
    """One entry per op of the traced step (numpy arrays of equal length)."""
    cls: np.ndarray  # int8, an index into CLASSES
    flops: np.ndarray  # float64
    bytes: np.ndarray  # float64
    kernels: np.ndarray  # float64: kernel launches on a GPU
    sixteen_bit: np.ndarray  # bool: the op computes in a 16-bit dtype
    foreach_tensors: np.ndarray  # float64: tensors of a `_foreach_*` op (0 for others)
    kind: np.ndarray  # int8, an index into KINDS
    inner: np.ndarray  # float64: a matmul's inner dimension; attention: 1 when its FLOPs were halved as causal
    backward: np.ndarray  # bool: an attention kernel's backward (CPUs run it at a different rate)
    outputs: np.ndarray  # float64: entries of one matmul's output matrix; attention: the op's FLOPs

    @property
    def total_flops(self) -> float:
        return float(self.flops.sum())

    def __len__(self) -> int:
        return len(self.cls)

    def scaled(self, factor: float) -> "OpTable":
        """The same ops on `factor` times as many tokens: the work of activations scales (FLOPs
        and bytes of matmuls, attention, elementwise and copies), the optimizer's does not."""
        scale = np.where(self.cls == OPTIMIZER, 1.0, factor)
        return OpTable(self.cls, self.flops * scale, self.bytes * scale, self.kernels, self.sixteen_bit,
                       self.foreach_tensors, self.kind, self.inner, self.backward,
                       self.outputs * scale)

    def __add__(self, other: "OpTable") -> "OpTable":
        return OpTable(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.__dataclass_fields__))

    @classmethod
    def of(cls, rows: list[tuple]) -> "OpTable":
        """A table from rows of (cls, flops, bytes, kernels, sixteen_bit, foreach_tensors, kind,
        inner, backward, outputs)."""
        if not rows:
            empty = np.zeros(0)
            return cls(empty.astype(np.int8), empty, empty, empty, empty.astype(bool), empty, empty.astype(np.int8),
                       empty, empty.astype(bool), empty)
        c, flops, nbytes, kernels, sixteen, tensors, kind, inner, backward, outputs = zip(*rows)
        return cls(np.asarray(c, dtype=np.int8), np.asarray(flops, dtype=np.float64),
                   np.asarray(nbytes, dtype=np.float64), np.asarray(kernels, dtype=np.float64),
                   np.asarray(sixteen, dtype=bool), np.asarray(tensors, dtype=np.float64),
                   np.asarray(kind, dtype=np.int8), np.asarray(inner, dtype=np.float64),
                   np.asarray(backward, dtype=bool), np.asarray(outputs, dtype=np.float64))

    def summary(self) -> dict[str, dict[str, float]]:
        """Ops, FLOPs and bytes per class."""
        return {name: {"ops": int((self.cls == i).sum()), "flops": float(self.flops[self.cls == i].sum()),
                       "bytes": float(self.bytes[self.cls == i].sum())} for i, name in enumerate(CLASSES)}


def _causal(func, args, kwargs) -> bool:
    """Whether an attention kernel runs with is_causal=True (by its schema's argument name)."""
    if "attention" not in func._overloadpacket.__name__:
        return False
    if "is_causal" in kwargs:
        return bool(kwargs["is_causal"])
    for i, argument in enumerate(func._schema.arguments):
        if argument.name == "is_causal" and i < len(args):
            return bool(args[i])
    return False


def _nbytes(t: torch.Tensor) -> int:
    n = t.numel() * t.element_size()
    try:
        return min(n, t.untyped_storage().nbytes())  # an expanded tensor reads its storage once
    except (RuntimeError, NotImplementedError, TypeError):
        return n


def _key(t: torch.Tensor):
    try:
        return t.untyped_storage()._cdata, t.storage_offset(), tuple(t.shape)
    except (RuntimeError, NotImplementedError, TypeError):
        return id(t)


class OpCosts(TorchDispatchMode):
    """Record the cost of every op while active; `optimizer()` marks the optimizer's ops. With
    `timed=True` (real tensors on a CPU, where each op runs to its end before the next), it also
    records each op's wall seconds, the kernel alone: `seconds()`, one entry per row of `table()`."""

    def __init__(self, timed: bool = False):
        super().__init__()
        self._rows: list[tuple] = []
        self._in_optimizer = False
        self._timed = timed
        self._seconds: list[float] = []

    @contextlib.contextmanager
    def optimizer(self):
        self._in_optimizer = True
        try:
            yield
        finally:
            self._in_optimizer = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func._overloadpacket
        if packet in _MULTI_PASS and func in decomposition_table:
            with self:  # each pass recorded as the op it is
                return decomposition_table[func](*args, **kwargs)
        t0 = time.perf_counter() if self._timed else 0.0
        out = func(*args, **kwargs)
        elapsed = time.perf_counter() - t0 if self._timed else 0.0
        name = packet.__name__
        foreach = name.startswith("_foreach_")
        if func.namespace != "aten":  # prim.device and the like
            return out
        self._seconds.append(elapsed)
        if func.is_view or packet in _NO_KERNEL:
            self._rows.append((VIEW, 0.0, 0.0, 0.0, False, 0.0, STREAM, 0.0, False, 0.0))
            return out
        formula = FLOP_FORMULAS.get(packet)
        flops = float(formula(*args, **kwargs, out_val=out)) if formula is not None else 0.0
        causal = bool(flops) and _causal(func, args, kwargs)
        if causal:
            flops /= 2
        seen, read = set(), 0
        sixteen = False
        inputs = list(tensors_of((args, kwargs)))
        for t in inputs:
            key = _key(t)
            if key not in seen:
                seen.add(key)
                read += _nbytes(t)
            sixteen = sixteen or t.dtype in (torch.bfloat16, torch.float16)
        written = sum(_nbytes(t) for t in tensors_of(out))
        if packet in _GATHER:
            read = written
        if self._in_optimizer or foreach:
            cls = OPTIMIZER
        elif packet in _MATMUL:
            cls = MATMUL
        elif "scaled_dot_product" in name or "flash_attention" in name or "efficient_attention" in name:
            cls = ATTENTION
        elif packet in _COPY:
            cls = COPY
        else:
            cls = ELEMENTWISE
        kind = RANDOM if packet in _RANDOM else (
            TRANSCENDENTAL if any(t in name for t in _TRANSCENDENTAL_NAMES) else STREAM)
        if packet in (aten._to_copy, aten.copy_) and inputs and isinstance(out, torch.Tensor) \
                and inputs[-1].dtype != out.dtype:
            kind = CAST
        inner, outputs = (1.0 if causal else 0.0), flops  # attention: `inner` marks a causal-halved kernel
        if cls == MATMUL and flops and isinstance(out, torch.Tensor) and out.dim() >= 2:
            outputs = float(out.shape[-1] * out.shape[-2])
            inner = flops / (2 * outputs * (out.shape[0] if out.dim() == 3 else 1))
        tensors = 0.0
        if foreach:
            lists = [a for a in args if isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor)]
            tensors = float(len(lists[0])) if lists else 0.0
        self._rows.append((cls, flops, float(read + written), 1.0, sixteen, tensors, kind, inner,
                           name.endswith("backward"), outputs))
        return out

    def table(self) -> OpTable:
        return OpTable.of(self._rows)

    def seconds(self) -> np.ndarray:
        """Each recorded op's wall seconds (zeros unless `timed`)."""
        return np.asarray(self._seconds, dtype=np.float64)
