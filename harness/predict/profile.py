"""What a device does per second, as the step-time model (step_time.py) needs it: a matmul
throughput curve, a memory-bandwidth curve and the host's cost per op.

A CPU's profile is measured on the machine itself (cpu_profile.py). A GPU's is built from its
datasheet (gpus.py: dense 16-bit peak, memory bandwidth) and five constants shared by every GPU
class, each with its source below. Two of them, the large-matmul efficiency and the host cost
per kernel, are fitted to published training measurements (harness/calibration.py,
leave-one-source-out in the predicted-vs-published report); the other three come from how GPUs
are built and are not fitted.

  matmul rate(f)    = peak x MATMUL_TOP x f / (f + peak x MATMUL_FILL_S)      f: the op's FLOPs
  bandwidth rate(b) = bandwidth x BANDWIDTH_TOP x b / (b + bandwidth x BANDWIDTH_FILL_S)
  every kind of elementwise op (stream, transcendental, random) moves at the bandwidth rate:
                    a GPU's special-function units and Philox generator keep up with its memory
  fp32 matmuls      at FP32_MATMUL_FRACTION of the 16-bit rate (TF32 tensor cores, PyTorch's
                    default for convolutions only; matmuls stay IEEE fp32: ~1/16 of the dense
                    16-bit peak on A100/H100 datasheets)

A fill time is how long a kernel must run at full rate before the fixed cost of starting it,
spreading it over every SM and draining it stops mattering: a GEMM of f FLOPs reaches half its
top rate when f = peak x fill time. So a faster GPU needs a larger matmul to be kept busy, which
is why an H100 (3.2x an A100's peak, 1.6x its bandwidth) speeds up a PEFT step far less than 3.2x.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from harness.predict.gpus import GPU
from harness.predict.op_costs import KINDS


@dataclass(frozen=True)
class Constant:
    value: float
    source: str


GPU_CONSTANTS: dict[str, Constant] = {
    "matmul_top": Constant(0.90, "fitted (python -m harness.calibration, 2026-12-07) on the 13 published throughputs "
                                 "of harness/report/references/gpu_training_measurements.csv marked role=fit, from 4 "
                                 "sources; at the top of its grid: cuBLAS reaches ~0.7-0.85 of the dense peak on large "
                                 "bf16 GEMMs (NVIDIA Matrix Multiplication Background User's Guide, A100), so the fit "
                                 "also absorbs what the published runs' fused kernels (FlashAttention's rotary and "
                                 "RMSNorm, Megatron's fused ops) save over the eager ops the trace sees"),
    "matmul_fill_s": Constant(8e-6, "a GEMM on an A100 reaches about half its top rate at m=n=k=1024 (2.1 GFLOP, "
                                    "~7 us at the peak): NVIDIA Matrix Multiplication Background User's Guide, "
                                    "wave quantisation and tile efficiency"),
    "bandwidth_top": Constant(0.85, "STREAM-style copy kernels reach ~85-90 % of the HBM datasheet bandwidth on "
                                    "A100 and H100 (e.g. NVIDIA's bandwidthTest / babelstream results)"),
    "bandwidth_fill_s": Constant(3e-6, "a memory-bound kernel needs a few microseconds of traffic to hide its ramp-up "
                                       "and tail (the latency of one HBM round trip per SM wave): ~2-5 us"),
    "launch_s": Constant(1.2e-5, "fitted (python -m harness.calibration, 2026-12-07): the host's cost per kernel of "
                               "eager PyTorch "
                               "(Python, the dispatcher, autograd, the CUDA launch); a kernel that runs shorter "
                               "than it leaves the GPU idle. PyTorch's own measurements put eager overhead at "
                               "~5-20 us per op"),
}
FP32_MATMUL_FRACTION = 1 / 16
ATTENTION_FRACTION = Constant(0.7, "FlashAttention-2 reaches 50-73 % of the A100's peak forward and backward (Dao "
                                   "2023, Fig. 4-5) against cuBLAS's ~80 % on GEMMs: attention at 0.7 of a matmul "
                                   "of the same FLOPs")


def _interp(x: np.ndarray, grid: tuple[float, ...], values) -> np.ndarray:
    """Log-log interpolation, flat beyond the grid."""
    return np.exp(np.interp(np.log(np.maximum(x, 1e-30)), np.log(grid), np.log(values)))


@dataclass(frozen=True)
class Profile:
    """What a device does per second. The shared part: bandwidth per kind of op and the host's
    cost per op; how matmuls and attention run is the subclass's (measured on a CPU, from the
    datasheet on a GPU)."""
    name: str
    kind: str  # "cpu" (every op waits for the one before) or "gpu" (the host runs ahead of the kernels)
    bandwidth_bytes: tuple[float, ...]  # grid: bytes one op reads and writes
    bandwidth_rate: dict[str, tuple[float, ...]]  # kind (op_costs.KINDS) -> bytes/s at each grid point
    per_op_s: float  # cpu: the cost of dispatching one aten op in a training step; gpu: per kernel launch
    source: str

    def memory_seconds(self, nbytes: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Seconds of ops moving `nbytes` each, at the rate of their kind (op_costs.KINDS)."""
        rate = np.ones_like(nbytes)
        for i, name in enumerate(KINDS):
            mine = kind == i
            rate[mine] = _interp(nbytes[mine], self.bandwidth_bytes, self.bandwidth_rate[name])
        return nbytes / rate

    def matmul_seconds(self, flops, inner, outputs, sixteen_bit) -> np.ndarray:
        raise NotImplementedError

    def attention_seconds(self, flops, sixteen_bit, backward) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class MeasuredProfile(Profile):
    """A CPU's profile: matmul rates measured on a grid of (inner dimension, output entries) and
    interpolated bilinearly in log space; attention rates by the kernel's FLOPs."""
    matmul_inner: tuple[float, ...] = ()
    matmul_outputs: tuple[float, ...] = ()
    matmul_rate: dict = field(default_factory=dict)  # "16bit" / "fp32" -> rows (inner) of rates (outputs)
    attention_flops: tuple[float, ...] = ()
    attention_rate: dict = field(default_factory=dict)  # "16bit" / "fp32" [+ "_backward"] -> rate at each point
    # "16bit" / "fp32" -> step_time.FACTOR_GROUPS -> measured / predicted work of that group's ops
    # in a reference training step: what a real step's cold caches, broadcasts and strided
    # operands cost beyond the microbenchmarks (cpu_profile.reference_factors)
    work_factor: dict = field(default_factory=lambda: {p: {"matmul": 1.0, "other": 1.0} for p in ("16bit", "fp32")})

    def _grid_rate(self, inner: np.ndarray, outputs: np.ndarray, table) -> np.ndarray:
        table = np.log(np.asarray(table))
        gi, go = np.log(self.matmul_inner), np.log(self.matmul_outputs)
        x, y = np.clip(np.log(inner), gi[0], gi[-1]), np.clip(np.log(outputs), go[0], go[-1])
        i = np.clip(np.searchsorted(gi, x) - 1, 0, len(gi) - 2)
        j = np.clip(np.searchsorted(go, y) - 1, 0, len(go) - 2)
        u, v = (x - gi[i]) / (gi[i + 1] - gi[i]), (y - go[j]) / (go[j + 1] - go[j])
        return np.exp(table[i, j] * (1 - u) * (1 - v) + table[i + 1, j] * u * (1 - v)
                      + table[i, j + 1] * (1 - u) * v + table[i + 1, j + 1] * u * v)

    def matmul_seconds(self, flops, inner, outputs, sixteen_bit) -> np.ndarray:
        square = np.cbrt(np.maximum(flops, 2.0) / 2)  # a product without a recorded shape: as a square one
        shaped = inner > 0
        inner, outputs = np.where(shaped, inner, square), np.where(shaped, np.maximum(outputs, 1.0), square ** 2)
        rate = np.where(sixteen_bit, self._grid_rate(inner, outputs, self.matmul_rate["16bit"]),
                        self._grid_rate(inner, outputs, self.matmul_rate["fp32"]))
        return flops / rate

    def attention_seconds(self, flops, sixteen_bit, backward) -> np.ndarray:
        rate = np.ones_like(flops)
        for dtype, bwd in ((d, b) for d in ("16bit", "fp32") for b in (False, True)):
            mine = (sixteen_bit == (dtype == "16bit")) & (backward == bwd)
            index = flops[mine] / (2.5 if bwd else 1.0)  # the grid: the forward's FLOPs (the backward has 2.5x)
            rate[mine] = _interp(index, self.attention_flops,
                                 self.attention_rate[dtype + ("_backward" if bwd else "")])
        return flops / rate

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "MeasuredProfile":
        d = json.loads(text)
        for key in ("bandwidth_bytes", "matmul_inner", "matmul_outputs", "attention_flops"):
            d[key] = tuple(d[key])
        return cls(**d)


@dataclass(frozen=True)
class DatasheetProfile(Profile):
    """A GPU's profile: its datasheet and the shared constants (the module's docstring)."""
    peak_flops: float = 0.0
    constants: dict = field(default_factory=dict)

    def _rate(self, flops: np.ndarray) -> np.ndarray:
        c = self.constants
        return self.peak_flops * c["matmul_top"] * flops / (flops + self.peak_flops * c["matmul_fill_s"])

    def matmul_seconds(self, flops, inner, outputs, sixteen_bit) -> np.ndarray:
        rate = self._rate(np.maximum(flops, 1.0)) * np.where(sixteen_bit, 1.0, FP32_MATMUL_FRACTION)
        return flops / rate

    def attention_seconds(self, flops, sixteen_bit, backward) -> np.ndarray:
        return self.matmul_seconds(flops, flops, flops, sixteen_bit) / ATTENTION_FRACTION.value


def gpu_profile(gpu: GPU, constants: dict[str, float] | None = None) -> DatasheetProfile:
    """A GPU's profile from its datasheet and the shared constants (`constants` overrides some,
    as the calibration's fits do)."""
    c = {k: v.value for k, v in GPU_CONSTANTS.items()} | (constants or {})
    bw = gpu.bandwidth_gbps * 1e9
    nbytes = np.logspace(2, 12, 41)
    rate_bw = bw * c["bandwidth_top"] * nbytes / (nbytes + bw * c["bandwidth_fill_s"])
    return DatasheetProfile(name=gpu.name, kind="gpu", bandwidth_bytes=tuple(nbytes),
                            bandwidth_rate={k: tuple(rate_bw) for k in KINDS}, per_op_s=c["launch_s"],
                            source=f"{gpu.name} datasheet ({gpu.peak_16bit_tflops:g} TFLOP/s dense 16-bit, "
                                   f"{gpu.bandwidth_gbps:g} GB/s) and the shared GPU constants "
                                   f"(harness/predict/profile.py)",
                            peak_flops=gpu.peak_flops, constants=c)
