"""This CPU's profile for the step-time model, measured on the machine by microbenchmarks of a
few seconds and cached (per CPU model, thread count, torch version, predictor version, and the
allocator and OpenMP wait settings it ran under):

  per-op cost   a training step (forward, backward, clipping, AdamW) of a LLaMA built from a
                tiny config, timed, over the number of aten ops it runs: what Python, the
                dispatcher and autograd cost per op when the op itself does almost nothing
  matmuls       FLOP/s of matmuls on a grid of inner dimension (8 to 2048: a LoRA rank to a
                wide layer) x output entries (1K to 64M, at most 2048 rows: tokens x features,
                as a layer's output is; a language model's head is the widest), fp32 and bf16, the cost of
                dispatching a 1x1 matmul taken off (grid points over 2e10 FLOPs take the rate
                of the largest measured one: a bf16 matmul on AMX speeds up to ~1e10 FLOPs)
  work factors  a reference training step (a small GPT-2, an architecture no check uses), its
                ops timed one by one (each its best of 10 steps) and predicted from the other
                curves here: measured / predicted work of its matmuls, and of its other ops, fp32 and
                bf16, each applied to that group's ops (what cold caches, broadcasts and
                strided operands cost a real step beyond the microbenchmarks;
                step_time.FACTOR_GROUPS). Timed op by op, the factors leave out what the
                per-op cost already counts; one factor from the whole step's time charged
                large matmuls, which run at their microbenchmark's rate, as much as small ops
  attention     FLOP/s of the fused attention kernel, forward and backward apart (a CPU
                runs the backward far slower), 16 heads of 64 from 32 to 512 tokens
  bandwidth     bytes/s of an out-of-place add (reads two tensors, writes a new one, whose
                pages the kernel faults in as a training step's outputs are) from 4 KB to
                64 MB per tensor, the cost of dispatching a 1-element op taken off: small
                tensors move faster than DRAM, though not at the speed of warm caches (each call
                takes its operands from a 64 MB pool in turn); the same for GELU (a
                transcendental: erf) and for dropout's Bernoulli masks (random numbers, drawn in
                place: read and written, as op_costs counts them), which a CPU computes far
                slower than it moves bytes

    python -m harness.predict.cpu_profile [--threads N] [--force]     (prints the profile)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import torch

from harness.predict.op_costs import KINDS
from harness.predict.profile import MeasuredProfile

VERSION = 17
# glibc's allocator settings under which a CPU step's time is steady: by default glibc hands
# large freed blocks back to the kernel and faults their pages in again on the next step,
# which costs a small model's step up to a third of its time and varies with the process's
# history. The CPU check (benchmarks/predict_step_time_cpu.py) runs under these, and so does the
# profile it uses (the cache is per setting).
STEADY_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(2 ** 32), "MALLOC_TRIM_THRESHOLD_": str(2 ** 36)}
CACHE = Path(os.environ.get("PEFT_BENCH_CACHE", Path.home() / ".cache" / "peft-bench"))
MATMUL_INNER = (8, 32, 128, 512, 2048)
MATMUL_OUTPUTS = (2 ** 10, 2 ** 14, 2 ** 18, 2 ** 22, 2 ** 26)
MATMUL_MAX_FLOPS = 2e10
ATTENTION_TOKENS = (32, 64, 128, 256, 512)
ADD_ELEMENTS = tuple(2 ** k for k in range(10, 25, 2))
COLD_POOL_BYTES = 64 * 2 ** 20


def _timed(fn, min_s: float = 0.04, min_reps: int = 3) -> float:
    """Seconds per call: the best of three rounds of at least `min_s` each."""
    fn()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_s / 4:
        fn()
        reps += 1
    per = (time.perf_counter() - t0) / reps
    reps = max(min_reps, int(min_s / max(per, 1e-9)))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def per_op_seconds() -> float:
    """Seconds per aten op of a training step whose ops do almost no work."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config)
    step = _lm_step(model, torch.randint(0, 64, (1, 8)))
    return _timed(step, 0.1) / len(_ops_of(step))


def _lm_step(model, ids, dtype=None):
    """One training step of a causal LM on `ids` (under bf16 autocast with `dtype`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)

    def step():
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def _ops_of(step):
    """The step's op table, after one warm-up step (AdamW's state exists)."""
    from harness.predict.op_costs import OpCosts

    step()
    with OpCosts() as costs:
        step()
    return costs.table()


def matmul_rates(dtype: torch.dtype) -> list[list[float]]:
    """FLOP/s per (inner, outputs) of the grid: rows by inner dimension."""
    one = torch.ones(1, 1, dtype=dtype)
    dispatch = _timed(lambda: torch.mm(one, one))
    table = []
    for k in MATMUL_INNER:
        row = []
        for outputs in MATMUL_OUTPUTS:
            flops = 2 * k * outputs
            if flops > MATMUL_MAX_FLOPS and row:
                row.append(row[-1])
                continue
            m = min(int(round(outputs ** 0.5)), 2048)  # tokens x features, as a layer's output is
            n = outputs // m
            a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
            seconds = _timed(lambda: torch.mm(a, b), min_s=0.01, min_reps=2)
            row.append(2 * m * n * k / max(seconds - dispatch, seconds * 0.05))
        table.append(row)
    return table


def attention_rates(dtype: torch.dtype) -> tuple[list[float], list[float], list[float]]:
    """(forward FLOPs, forward FLOP/s, backward FLOP/s) of scaled_dot_product_attention at
    ATTENTION_TOKENS (the backward's rate indexed by the forward's FLOPs: op_costs records
    each kernel's own FLOPs, and the backward has 2.5 times the forward's)."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    flops, forward, backward = [], [], []
    for n in ATTENTION_TOKENS:
        shape = (1, 16, n, 64)
        q, k, v = (torch.randn(shape).to(dtype).requires_grad_() for _ in range(3))
        grad = torch.randn(shape).to(dtype)
        f_fwd, f_bwd = sdpa_flop_count(shape, shape, shape), sdpa_backward_flop_count(shape, shape, shape, shape)
        t_fwd = _timed(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
                       min_s=0.02, min_reps=2)

        def both():
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(grad)
        t_both = _timed(both, min_s=0.02, min_reps=2)
        flops.append(float(f_fwd))
        forward.append(f_fwd / t_fwd)
        backward.append(f_bwd / max(t_both - t_fwd, t_both * 0.2))
    return flops, forward, backward


def bandwidth_rates(kind: str) -> list[float]:
    """Bytes/s of one op of `kind` (op_costs.KINDS) at each size of ADD_ELEMENTS (fp32 elements;
    the bytes are those op_costs counts for the op: inputs read and outputs written)."""
    ops = {"stream": (lambda a, b, out: torch.add(a, b), 3),
           "transcendental": (lambda a, b, out: torch.nn.functional.gelu(a), 2),
           "random": (lambda a, b, out: out.bernoulli_(0.9), 2),  # in place: read and written
           "cast": (lambda a, b, out: a.to(torch.bfloat16), 1.5)}
    op, tensors = ops[kind]
    one = torch.ones(1)
    dispatch = _timed(lambda: op(one, one, one))
    rates = []
    for n in ADD_ELEMENTS:
        # a pool of operands larger than the caches, used in turn: a training step's ops read
        # tensors other ops wrote a while ago, not the same warm ones over and over
        pool = [(torch.randn(n), torch.randn(n), torch.empty(n)) for _ in range(max(1, COLD_POOL_BYTES // (12 * n)))]
        turn = iter(range(1 << 60))

        def call():
            a, b, out = pool[next(turn) % len(pool)]
            op(a, b, out)
        seconds = _timed(call, min_s=0.02)
        rates.append(tensors * 4 * n / max(seconds - dispatch, seconds * 0.05))
        pool.clear()
    return rates


def reference_factors(profile: MeasuredProfile, reps: int = 10) -> dict[str, dict[str, float]]:
    """Measured / predicted work of each group of ops (step_time.FACTOR_GROUPS) in a reference
    training step, in fp32 and under bf16 autocast (all of the step's ops, those autocast keeps
    in fp32 too, as step_time applies them): a GPT-2 built from a small config (4 layers of 256,
    vocabulary 8,192, batch 4 x 128), an architecture none of the checks uses, so that no check
    is judged on what it was fitted to. Each op is timed on its own (the kernel alone; the per-op dispatch cost is
    the profile's apart), its best of `reps` steps."""
    from dataclasses import replace

    import numpy as np
    from transformers import GPT2Config, GPT2LMHeadModel

    from harness.predict.op_costs import OpCosts
    from harness.predict.step_time import FACTOR_GROUPS, factor_groups, op_seconds

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=8192, n_embd=256, n_layer=4, n_head=4, n_positions=128))
    model.config._attn_implementation = "sdpa"
    ids = torch.randint(0, 8192, (4, 128))
    unit = replace(profile, work_factor={p: dict.fromkeys(FACTOR_GROUPS, 1.0) for p in ("16bit", "fp32")})
    factors = {}
    for precision, dtype in (("fp32", None), ("16bit", torch.bfloat16)):
        step = _lm_step(model, ids, dtype)
        step()
        step()
        timings = []
        for _ in range(reps):
            with OpCosts(timed=True) as costs:
                step()
            timings.append(costs.seconds())
        table, best = costs.table(), np.min(timings, axis=0)
        seconds, host = op_seconds(table, unit)
        work, group = seconds - host, factor_groups(table)
        factors[precision] = {name: max(0.5, float(best[group == i].sum() / work[group == i].sum()))
                              if work[group == i].sum() > 0 else 1.0 for i, name in enumerate(FACTOR_GROUPS)}
    return factors


def measure() -> MeasuredProfile:
    from harness.record.environment import cpu_name

    t0 = time.perf_counter()
    per_op = per_op_seconds()
    dtypes = {"fp32": torch.float32, "16bit": torch.bfloat16}
    matmul = {name: matmul_rates(dtype) for name, dtype in dtypes.items()}
    attention = {name: attention_rates(dtype) for name, dtype in dtypes.items()}
    bandwidth = {kind: bandwidth_rates(kind) for kind in KINDS}
    threads = torch.get_num_threads()
    profile = MeasuredProfile(
        name=f"{cpu_name()} ({threads} threads)", kind="cpu", bandwidth_bytes=tuple(12.0 * n for n in ADD_ELEMENTS),
        bandwidth_rate={k: tuple(v) for k, v in bandwidth.items()}, per_op_s=per_op,
        source=f"measured on this machine by harness/predict/cpu_profile.py in {time.perf_counter() - t0:.1f} s "
               f"(torch {torch.__version__})",
        matmul_inner=tuple(float(k) for k in MATMUL_INNER), matmul_outputs=tuple(float(o) for o in MATMUL_OUTPUTS),
        matmul_rate=matmul, attention_flops=tuple(attention["fp32"][0]),
        attention_rate={name + suffix: list(rates[i]) for name, rates in attention.items()
                        for i, suffix in ((1, ""), (2, "_backward"))})
    from dataclasses import replace

    factors = reference_factors(profile)
    return replace(profile, work_factor=factors,
                   source=f"measured on this machine by harness/predict/cpu_profile.py in "
                          f"{time.perf_counter() - t0:.1f} s (torch {torch.__version__})")


def factors_text(profile: MeasuredProfile) -> str:
    """The work factors in a line: 'fp32 matmul 1.20, other 1.70; bf16 ...'."""
    return "; ".join(f"{'bf16' if precision == '16bit' else precision} " + ", ".join(
        f"{group} {value:.2f}" for group, value in profile.work_factor[precision].items())
        for precision in ("fp32", "16bit"))


def _cache_file() -> Path:
    from harness.record.environment import cpu_name

    # OpenMP's wait policy too: threads that sleep between ops (PASSIVE, as the test suite sets)
    # wake late, which slows a 2-thread step of small ops by up to half
    settings = "|".join(os.environ.get(k, "") for k in (*STEADY_ALLOCATOR, "OMP_WAIT_POLICY"))
    from harness.predict.step_time import VERSION as PREDICTOR  # its work factor is the predictor's

    key = f"{VERSION}|{PREDICTOR}|{cpu_name()}|{torch.get_num_threads()}|{torch.__version__}|{settings}"
    return CACHE / f"cpu-profile-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _cached(path: Path) -> MeasuredProfile | None:
    try:
        return MeasuredProfile.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None  # none yet, or a cache from another version


def cached_cpu_profile() -> MeasuredProfile | None:
    """This CPU's profile at the current thread count if one is cached, else None."""
    return _cached(_cache_file())


def cpu_profile(force: bool = False) -> MeasuredProfile:
    """This CPU's profile at the current thread count: from the cache, else measured (about 30 s)
    in a child process, so that the caller's memory peak and allocator state stay its own."""
    import subprocess
    import sys

    path = _cache_file()
    if not force and (cached := _cached(path)) is not None:
        return cached
    if os.environ.get("PEFT_BENCH_PROFILE_CHILD") != "1":
        subprocess.run([sys.executable, "-m", "harness.predict.cpu_profile", "--threads", str(torch.get_num_threads()),
                        *(["--force"] if force else [])], env={**os.environ, "PEFT_BENCH_PROFILE_CHILD": "1"},
                       capture_output=True, text=True, timeout=600)
        if (cached := _cached(path)) is not None:
            return cached
    profile = measure()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(profile.to_json())
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: measure each time
    return profile


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.predict.cpu_profile", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--force", action="store_true", help="measure again")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    p = cpu_profile(args.force)
    print(f"{p.name}: {p.source}")
    print(f"per-op cost {p.per_op_s * 1e6:.1f} us; work factors {factors_text(p)}")
    for dt, table in p.matmul_rate.items():
        for k, rates in zip(p.matmul_inner, table):
            print(f"matmul {dt:>5} inner {int(k):>4}: " + ", ".join(f"{int(o)}: {r / 1e9:.0f}" for o, r in
                                                                    zip(p.matmul_outputs, rates)) + " GFLOP/s")
        for name in (dt, dt + "_backward"):
            print(f"attention {name}: " + ", ".join(f"{f / 1e6:.0f} MFLOP: {r / 1e9:.0f}" for f, r in
                                                   zip(p.attention_flops, p.attention_rate[name])) + " GFLOP/s")
    for kind, rates in p.bandwidth_rate.items():
        print(f"{kind}: " + ", ".join(f"{b / 1e6:.2g} MB: {r / 1e9:.1f}" for b, r in
                                      zip(p.bandwidth_bytes, rates)) + " GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
