"""GPU calibration run: about 5 minutes on one GPU, for the day one is lent.

1. This GPU's profile, measured: bf16 / fp32 matmul throughput of square matmuls (256 to 8192),
   memory bandwidth (an out-of-place add, 4 KB to 1 GB per tensor) and the host's cost per
   kernel launch (a chain of tiny adds, synchronised once); first of all, the cuBLAS workspaces
   one forward and backward matmul leave allocated (the predictor counts two).
2. Real training steps of LLaMA-architecture models built from config (random weights: the
   ~1B, ~3B and ~7B shapes of conf/model) x LoRA, QLoRA (when bitsandbytes is there) and full
   fine-tuning (where it fits) x batch sizes and lengths, each timed and its peak
   torch.cuda.max_memory_allocated taken, beside the trace's prediction for this GPU
   (harness/predict/check.py) in the same row.
3. First of the steps, a probe of the predictor's largest miss on this project's GPU rows:
   AdaLoRA's peak allocated memory on MiniLM (GLUE, batch 32) is 24 % above the prediction while
   LoRA's is within 4 %. The probe runs LoRA and AdaLoRA at that shape (random weights from
   MiniLM's config), measured beside predicted, and on a GPU writes each step's allocator
   history (memory_snapshot_<method>.pickle, torch.cuda.memory._dump_snapshot; open it at
   pytorch.org/memory_viz) so that the allocations behind the gap can be read.

Everything goes into one folder (`--out`, default $OUT or ./calibration), which the caller
archives: profile.json, steps.jsonl (one row per cell: measured and predicted), environment.json.
Rows are GPU rows only when this ran on a GPU; `--dry` runs tiny shapes on the CPU to show the
script works end to end before a GPU is lent (its rows say device cpu and are never committed).

    python benchmarks/gpu_calibration.py [--dry] [--out DIR] [--budget-s 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

# (model config, methods, [(batch, length)]): the ~1B, ~3B and ~7B LLaMA shapes
CELLS = [
    ("tinyllama_1b_shape", ("lora", "full_ft", "qlora"), [(1, 512), (4, 512), (2, 2048)]),
    ("llama3_2_3b_shape", ("lora", "qlora", "full_ft"), [(1, 512), (4, 1024)]),
    ("llama_7b", ("lora", "qlora"), [(1, 512), (2, 1024)]),
]
DRY_CELLS = [("llama_ladder_xs", ("lora", "full_ft"), [(2, 32)])]
# (model config, task, methods, batch, length): the probe of AdaLoRA's memory gap (item 3 above)
PROBE = ("minilm_l6", "glue/mrpc", ("lora", "adalora"), 32, 128)
DRY_PROBE = ("minilm_l6", "glue/mrpc", ("lora", "adalora"), 2, 16)


def _cfg(name: str, group: str):
    return OmegaConf.load(REPO / "conf" / group / f"{name}.yaml")


def gpu_profile_measured(device: torch.device, dry: bool) -> dict:
    """Matmul curve, bandwidth curve and launch cost of this device."""
    def timed(fn, reps=10):
        fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        return (time.perf_counter() - t0) / reps

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sizes = (64, 128, 256) if dry else (256, 512, 1024, 2048, 4096, 8192)
    matmul = {}
    for name, dtype in (("16bit", torch.bfloat16), ("fp32", torch.float32)):
        matmul[name] = []
        for n in sizes:
            a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
            matmul[name].append([2.0 * n ** 3, 2.0 * n ** 3 / timed(lambda: a @ b)])
    bandwidth = []
    for k in ((10, 14, 18) if dry else (10, 14, 18, 22, 26, 28)):
        n = 2 ** k
        a, b = torch.randn(n, device=device), torch.randn(n, device=device)
        bandwidth.append([12.0 * n, 12.0 * n / timed(lambda: a + b)])
    x = torch.ones(1, device=device)
    chain = 200

    def tiny():
        y = x
        for _ in range(chain):
            y = y + 1
    launch = timed(tiny, 5) / chain
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "matmul_flops_and_rate": matmul, "bandwidth_bytes_and_rate": bandwidth, "launch_s": launch}


def cublas_workspace_of_a_step(device: torch.device) -> int | None:
    """Bytes the allocator holds after one forward and backward matmul beyond the tensors alive:
    the cuBLAS workspaces of the two threads (the caller's, autograd's), which the predictor
    counts (harness/predict/memory.py). Run before any other matmul of the process."""
    from harness.predict.cell import CUDA_ALLOCATOR_ROUNDING

    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    w = torch.randn(256, 256, device=device, dtype=torch.bfloat16, requires_grad=True)
    x = torch.randn(64, 256, device=device, dtype=torch.bfloat16, requires_grad=True)
    (x @ w).float().sum().backward()
    torch.cuda.synchronize(device)
    block = CUDA_ALLOCATOR_ROUNDING
    live = sum(-(-t.numel() * t.element_size() // block) * block for t in (w, x, w.grad, x.grad))
    return torch.cuda.memory_allocated(device) - base - live


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry", action="store_true", help="tiny shapes on the CPU: check the script, record nothing")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "calibration")))
    ap.add_argument("--budget-s", type=float, default=300.0, help="stop starting cells after this many seconds")
    args = ap.parse_args(argv)
    from harness.predict.check import check_step
    from harness.predict.cpu_profile import cpu_profile
    from harness.predict.gpus import find_gpu
    from harness.predict.profile import gpu_profile
    from harness.record.environment import environment_columns

    on_gpu = torch.cuda.is_available() and not args.dry
    if args.dry:
        torch.set_num_threads(1)  # the CPU profile the CPU check measures (one thread)
    device = torch.device("cuda" if on_gpu else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env = environment_columns(str(device))
    (args.out / "environment.json").write_text(json.dumps(env, default=str, indent=1))
    workspace = cublas_workspace_of_a_step(device)
    measured = gpu_profile_measured(device, args.dry)
    measured["cublas_workspace_bytes_of_a_step"] = workspace
    if workspace is not None:
        print(f"cuBLAS workspaces after one forward and backward matmul: {workspace / 2 ** 20:.1f} MiB", flush=True)
    (args.out / "profile.json").write_text(json.dumps(measured, indent=1))
    print(f"profile of {measured['device']}: launch {measured['launch_s'] * 1e6:.1f} us, "
          f"largest bf16 matmul {measured['matmul_flops_and_rate']['16bit'][-1][1] / 1e12:.1f} TFLOP/s", flush=True)
    target = find_gpu(measured["device"]) if on_gpu else None
    profile = gpu_profile(target) if target else cpu_profile()
    try:
        import bitsandbytes  # noqa: F401
        have_bnb = on_gpu
    except ImportError:
        have_bnb = False
    rows = open(args.out / "steps.jsonl", "a")

    def run_cell(model_cfg, task_name: str, method_name: str, batch: int, length: int, snapshot: Path | None = None):
        precision = "int4" if method_name == "qlora" else "bf16"
        method_cfg = _cfg("lora" if method_name == "qlora" else method_name, "method")
        row = {"model": model_cfg.name, "task": task_name, "method": method_name, "precision": precision,
               "batch_size": batch, "seq_len": length, "device": str(device), "device_name": measured["device"],
               "profile": profile.name}
        t0 = time.perf_counter()
        if snapshot is not None:
            torch.cuda.memory._record_memory_history(max_entries=200_000)
        try:
            r = check_step(model_cfg, task_name, method_cfg, precision, batch, length, profile, device=str(device),
                           steps=3 if args.dry else 5, gpu=target)
            row.update(status="ok", measured_step_s=r.measured_s, predicted_step_s=r.predicted_s,
                       measured_mem_allocated_bytes=r.measured_mem_bytes,
                       predicted_mem_allocated_bytes=r.predicted_mem_bytes, predicted_by_class=r.by_class)
        except torch.cuda.OutOfMemoryError as exc:
            row.update(status="oom", error=str(exc).splitlines()[0][:200])
        except Exception as exc:  # a cell that cannot run is a row, and the run goes on
            row.update(status="error", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        finally:
            if snapshot is not None:
                torch.cuda.memory._dump_snapshot(str(snapshot))
                torch.cuda.memory._record_memory_history(enabled=None)
                row["memory_snapshot"] = snapshot.name
            if on_gpu:
                torch.cuda.empty_cache()
        row["wall_s"] = time.perf_counter() - t0
        rows.write(json.dumps(row, default=str) + "\n")
        rows.flush()
        print(json.dumps({k: row.get(k) for k in ("model", "method", "batch_size", "seq_len", "status",
                                                   "measured_step_s", "predicted_step_s", "measured_mem_allocated_bytes",
                                                   "predicted_mem_allocated_bytes")}), flush=True)

    probe_model, probe_task, probe_methods, probe_batch, probe_length = DRY_PROBE if args.dry else PROBE
    for method_name in probe_methods:
        model_cfg = OmegaConf.merge(_cfg(probe_model, "model"), {"random_init": True})
        run_cell(model_cfg, probe_task, method_name, probe_batch, probe_length,
                 args.out / f"memory_snapshot_{method_name}.pickle" if on_gpu else None)
    for model_name, methods, shapes in DRY_CELLS if args.dry else CELLS:
        for method_name in methods:
            for batch, length in shapes:
                if time.perf_counter() - start > args.budget_s:
                    print("budget spent: stopping", flush=True)
                    return 0
                if method_name == "qlora" and not have_bnb:
                    print(f"{model_name} qlora: skipped (bitsandbytes needs a GPU and its package)", flush=True)
                    continue
                run_cell(_cfg(model_name, "model"), "instruct/alpaca_belle", method_name, batch, length)
    return 0


if __name__ == "__main__":
    sys.exit(main())
