"""One training step of the real model with the method applied, run on fake tensors.

The model is built as count mode builds it (the architecture on the meta device, the method
applied by its library), given the storage dtypes the precision prescribes, then every
parameter and buffer becomes a FakeTensor on the CPU: shapes, dtypes and strides, no data. The
step is the harness's own (harness/training.py): forward under the precision's autocast, the
loss, backward, gradient clipping, AdamW, zero_grad. `LiveBytes` counts the live tensor bytes of
every op and `OpCosts` its FLOPs, bytes and kernels (attention included), so no per-architecture formula
is written anywhere.

The same `run_step` runs on real tensors too: that is how a prediction is checked on the CPU
(tests/predict/test_exact_on_cpu.py).

What a trace on the CPU cannot see is added by harness/predict/memory.py: bitsandbytes'
quantised storage (traced at the precision's unquantised dtype, then replaced), the CUDA
context, cuBLAS workspaces and the allocator's rounding.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from unittest import mock

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from harness.models import loading
from harness.models.architecture import enable_checkpointing, head_module_names, layer_stack
from harness.precision import QUANTISED, get_precision, keep_trainable_in_fp32
from harness.predict.live_bytes import ACTIVATIONS, WEIGHTS, LiveBytes, Timeline
from harness.predict.op_costs import OpCosts, OpTable

ATTENTION = {"sdpa": "sdpa", "flash": "sdpa", "eager": "eager"}  # flash keeps what sdpa's fused kernels keep


@dataclass
class StepTrace:
    timeline: Timeline
    ops: OpTable  # what each op costs: FLOPs, bytes, kernels, class (harness/predict/op_costs.py)
    quantised_shapes: list[tuple[int, int]]  # (out, in) of the layers bitsandbytes would quantise
    traced_weight_element_size: int = 4  # bytes per entry those weights were traced at

    @property
    def flops(self) -> float:
        """Forward + backward FLOPs of one step (matmuls and attention)."""
        return self.ops.total_flops

    @property
    def logits_bytes_at_peak(self) -> int:
        return self.timeline.peak()[1]["logits"]


def _trace_dtype(precision: str) -> torch.dtype:
    """The dtype the frozen base is stored in; quantised precisions trace the harness's
    unquantised remainder (fp32: harness/precision.py), the layers bitsandbytes quantises in its
    compute dtype (build_model), and swap those layers' storage after (memory.py)."""
    p = get_precision(precision)
    return torch.float32 if p.quantised else p.frozen_dtype


def fakeify(model: nn.Module, mode: FakeTensorMode, device: str = "cpu") -> nn.Module:
    """Replace every (meta) parameter and buffer by a FakeTensor on `device`; tied tensors stay tied."""
    device = torch.device(device)
    memo: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in memo:
            memo[id(t)] = mode.fake_tensor_converter.from_meta_and_device(mode, t.data.to("meta"), device)
        return memo[id(t)]

    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                key = id(p)
                if key not in memo or not isinstance(memo[key], nn.Parameter):
                    memo[key] = nn.Parameter(fake(p), requires_grad=p.requires_grad)
                module._parameters[name] = memo[key]
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = fake(b)
        for name, value in list(vars(module).items()):  # plain tensor attributes (peft's prompt_tokens)
            if name.startswith("_"):
                continue
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                setattr(module, name, fake(value))
            elif isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
                setattr(module, name, {k: fake(v) for k, v in value.items()})
    return model


def quantisable_linears(model: nn.Module, keep: list[str], trained: bool | None = False) -> list[tuple[str, nn.Linear]]:
    """The nn.Linear layers bitsandbytes quantises at load: not the task head, not a causal LM's
    output layer, not a layer the method trains in place (harness.models.loading). Frozen ones
    (`trained=False`: the storage to replace), trainable ones (True), or all (None: before a
    method is applied)."""
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    keep_prefixes = tuple(keep)
    found = []
    for name, module in model.named_modules():
        if type(module) is not nn.Linear or module is out_emb or (
                trained is not None and module.weight.requires_grad != trained):
            continue
        if any(name == k or name.startswith(f"{k}.") or f".{k}." in f".{name}." for k in keep_prefixes):
            continue
        found.append((name, module))
    return found


def build_model(model_cfg, task, method, args, precision: str, ctx_steps: int = 1000,
                attention: str = "sdpa", gradient_checkpointing: bool = False, device: str = "meta"):
    """The model as the harness trains it, on `device` ("meta": for fake tensors; "cpu": real,
    random weights). Returns (model, the task head's module names, the weights bitsandbytes would
    quantise, as traced)."""
    from harness.cell_setup import method_context
    from harness.methods.selective import refuse_quantised

    config = loading.build_config(model_cfg, task)
    config._attn_implementation = ATTENTION[attention]
    pooling = loading.head_pooling(model_cfg, task)
    cls = loading.auto_class(task, pooling)
    dtype = _trace_dtype(precision)
    with torch.device(device):
        base = loading.with_head(cls.from_config(config, dtype=dtype), pooling)
    heads, ctx = method_context(base, task, ctx_steps)
    in_place = method.keep_unquantised(args)
    keep = head_module_names(base) + ["pooler"] + (in_place(base) if in_place else [])
    at_load = {id(m) for _, m in quantisable_linears(base, keep, trained=None)} if precision in QUANTISED else set()
    if device == "meta":
        with torch.device("meta"):
            model = method.apply(base, args, ctx)
    else:
        model = method.apply(base, args, ctx)
    model = keep_trainable_in_fp32(model)
    if precision in QUANTISED:  # the verdict training gives, from the same check
        refuse_quantised([f"{name}.weight" for name, m in model.named_modules()
                          if id(m) in at_load and m.weight.requires_grad])
    quantisable = [m.weight for _, m in quantisable_linears(model, keep)] if precision in QUANTISED else []
    compute = get_precision(precision).autocast_dtype
    if compute is not None:  # bitsandbytes multiplies in the compute dtype and keeps no cast copy
        for weight in quantisable:
            weight.data = weight.data.to(compute)
    if gradient_checkpointing:
        enable_checkpointing(model)
    return model, heads, quantisable


def fake_batch(task, config, batch_size: int, seq_len: int, device="cpu") -> dict:
    """A full batch of `seq_len` tokens (every position real): the widest batch of a run."""
    shape = (batch_size, seq_len)
    ids = torch.zeros(shape, dtype=torch.long, device=device)
    batch = {"input_ids": ids, "attention_mask": torch.ones(shape, dtype=torch.long, device=device)}
    if task.kind == "causal_lm":
        batch["labels"] = torch.zeros(shape, dtype=torch.long, device=device)
    else:
        batch["labels"] = torch.zeros(batch_size, dtype=torch.float if task.is_regression else torch.long,
                                      device=device)
    return batch


def _no_random_module_dropout(model: nn.Module) -> None:
    """peft's LyCORIS layers (LoHa, LoKr) decide module dropout per step with `torch.rand(1) >
    p` in training mode, a branch on a value fake tensors do not have. At p = 0 (peft's default
    and the harness's configs) the adapter always applies and eval mode computes the same step,
    so those layers trace in eval mode; with p > 0 the prediction cannot be made and says so."""
    from harness.errors import UnsupportedError

    for module in model.modules():
        dropout = getattr(module, "module_dropout", None)
        if not isinstance(dropout, dict) or not hasattr(module, "rank_dropout"):
            continue
        if any(p > 0 for p in dropout.values()) or any(p > 0 for p in module.rank_dropout.values()):
            raise UnsupportedError("mode=predict: module_dropout / rank_dropout > 0 draws a random number per step "
                                   "that a traced step cannot branch on; predict with 0")
        module.training = False


def run_step(model: nn.Module, batch: dict, autocast, foreach: bool | None, max_grad_norm: float = 1.0,
             count_ops: bool = False, round_to: int = 1, fake: bool = False) -> tuple[Timeline, OpTable | None]:
    """One optimizer step as harness/training.py runs it, after the optimizer's state exists
    (the steady state: every step after the first holds AdamW's moments through forward and
    backward). Returns the live-bytes timeline and, with `count_ops`, the cost of every op."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, foreach=foreach)
    for p in trainable:  # create AdamW's state as the first step would
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    counter = LiveBytes(round_to)
    costs = OpCosts() if count_ops else None
    model.train()
    _no_random_module_dropout(model)
    with counter, costs or contextlib.nullcontext():
        counter.register([*model.parameters(), *model.buffers()], WEIGHTS)
        counter.register([s for state in optimizer.state.values() for s in state.values()
                          if isinstance(s, torch.Tensor)], 2)
        counter.register(batch.values(), ACTIVATIONS)
        counter.track_gradients(trainable)
        output_layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if output_layer is not None:
            counter.track_logits(model, output_layer)
        with autocast():
            loss = model(**batch).loss
        if fake:  # ~16 collections per layer in backward (LiveBytes.collect_every)
            counter.collect_every(counter.ops // (16 * len(layer_stack(model)[1])))
        loss.backward()
        del loss
        with costs.optimizer() if costs else contextlib.nullcontext():
            torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm, foreach=foreach)
            with counter.optimizer_step():
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return counter.timeline(), (costs.table() if costs else None)


def dequantise_ops(precision: str, shapes: list[tuple[int, int]], passes: int) -> OpTable:
    """What bitsandbytes adds to each quantised layer's matmul, which the trace (made with the
    layers in their compute dtype) does not see: NF4 (int4) dequantises the weight to 16 bits
    before every matmul that multiplies by it (bitsandbytes' dequantize_4bit, reading 0.5 byte
    and writing 2 per entry), `passes` times per micro-batch (forward, backward, and the
    recomputed forward under checkpointing); LLM.int8 (int8) likewise reads 1 byte per entry
    and its outlier decomposition writes a 16-bit copy (counted as a dequantisation too)."""
    from harness.predict.op_costs import CAST, COPY

    per_entry = {"int4": 2.5, "int8": 3.0}.get(precision)
    if per_entry is None:
        return OpTable.of([])
    return OpTable.of([(COPY, 0.0, per_entry * o * i, 1.0, True, 0.0, CAST, 0.0, False, 0.0)
                       for o, i in shapes for _ in range(passes)])


def _flash_causal(ops: OpTable) -> OpTable:
    """FlashAttention-2 on a causal LM skips the masked half of the scores. The CPU trace passes
    the attention mask explicitly (fake tensors cannot show it is all ones, so transformers
    builds it), which the kernel's own is_causal flag would otherwise say (op_costs._causal)."""
    from dataclasses import replace

    from harness.predict.op_costs import ATTENTION

    halve = (ops.cls == ATTENTION) & (ops.flops > 0) & (ops.inner == 0)  # not already halved as causal
    return replace(ops, flops=ops.flops / (1 + halve), outputs=ops.outputs / (1 + halve))


class CudaAutocastRules:
    """CUDA's autocast rules where they differ from the CPU's, over the CPU's autocast: on a GPU,
    autocast runs the normalisations, softmax and the transcendental pointwise ops in fp32 (its
    fp32 and fp32_set_opt_dtype lists, torch/csrc/autograd/autocast_mode.cpp), casting their
    16-bit inputs up; the CPU's lists keep them in 16 bits. What a step keeps differs: a post-LN
    encoder's residual stream and every LayerNorm output are fp32 on a GPU, and each linear layer
    after one saves its own 16-bit copy of its input. torch.autocast("cuda") switches itself off
    without a GPU, and a fake CUDA tensor cannot be sliced on a CPU-only build, so the trace keeps
    CPU tensors and swaps in wrapped functions while it runs (a torch-function mode would not reach a
    checkpointed layer's recomputation in backward). The losses are fp32 on both."""

    UPCAST = [(torch.nn.functional, "layer_norm"), (torch, "layer_norm"), (torch.nn.functional, "group_norm"),
              (torch, "group_norm"), (torch.nn.functional, "softplus"),
              *((owner, name) for name in ("exp", "log", "log1p", "expm1", "pow", "rsqrt", "reciprocal")
                for owner in (torch, torch.Tensor)), (torch.Tensor, "__pow__")]
    FP32_OUTPUT = [(owner, name) for name in ("softmax", "log_softmax")
                   for owner in (torch.nn.functional, torch, torch.Tensor)]

    def __enter__(self):
        self._patches = contextlib.ExitStack()
        for wrap, functions in ((_upcast, self.UPCAST), (_fp32_output, self.FP32_OUTPUT)):
            for owner, name in functions:
                self._patches.enter_context(mock.patch.object(owner, name, wrap(getattr(owner, name))))
        return self

    def __exit__(self, *exc):
        self._patches.close()


def _upcast(original):
    def call(*args, **kwargs):
        if torch.is_autocast_enabled("cpu"):
            args, kwargs = _to_fp32(args), _to_fp32(kwargs)
        return original(*args, **kwargs)
    return call


def _fp32_output(original):
    def call(input, *args, **kwargs):
        given = kwargs.get("dtype") is not None or any(isinstance(a, torch.dtype) for a in args)
        if torch.is_autocast_enabled("cpu") and not given and _sixteen_bit(input):
            kwargs = {**kwargs, "dtype": torch.float32}
        return original(input, *args, **kwargs)
    return call


def _sixteen_bit(x) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype in (torch.bfloat16, torch.float16)


def _to_fp32(value):
    if _sixteen_bit(value):
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_fp32(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def gpu_kernels():
    """Trace attention and dropout as a GPU runs them.
    - SDPA: on the CPU, an attention with a padding mask or dropout falls back to the math path,
      which keeps the full score and probability matrices for backward; a GPU runs the
      memory-efficient (or flash) kernel, which keeps the output and one log-sum-exp per row.
      On fake tensors only shapes matter, so the call is routed to the CPU's fused kernel (what
      the GPU's keeps; the mask, built by the model before the call, is still traced).
    - dropout: the CPU draws a mask in the input's dtype (bernoulli_, then a multiply) and keeps
      it; a GPU's fused native_dropout keeps a 1-byte bool mask.
    - autocast: CUDA's rules over the CPU's (CudaAutocastRules), for the whole step, so that a
      checkpointed layer's recomputation in backward follows them too."""
    functional = torch.nn.functional

    def dropout(input, p=0.5, training=True, inplace=False):
        if not training or p == 0:
            return input
        return torch.ops.aten.native_dropout(input, p, True)[0]

    def fused(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if enable_gqa and key.shape[-3] != query.shape[-3]:
            repeat = query.shape[-3] // key.shape[-3]
            key, value = key.repeat_interleave(repeat, -3), value.repeat_interleave(repeat, -3)
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, 0.0, is_causal and attn_mask is None, scale=scale)[0]

    with mock.patch.object(functional, "scaled_dot_product_attention", fused), \
            mock.patch.object(functional, "dropout", dropout), CudaAutocastRules():
        yield


@contextlib.contextmanager
def masks_built_as_for_padding():
    """transformers' SDPA mask helpers (modeling_attn_mask_utils, which transformers 4.x's BERT
    uses) drop the padding mask when every position is real, `torch.all(mask == 1)`: a branch on
    values fake tensors do not have. They skip that test while a compiler traces (their
    `is_tracing`), and so does this trace: the mask is built, as for a padded batch (the
    harness's dynamic padding pads every batch but the widest)."""
    try:
        from transformers import modeling_attn_mask_utils as utils
    except ImportError:
        utils = None
    with (mock.patch.object(utils, "is_torchdynamo_compiling", lambda: True)
          if hasattr(utils, "is_torchdynamo_compiling") else contextlib.nullcontext()):
        yield


def trace(model_cfg, task, method, args, precision: str, batch_size: int, seq_len: int, *,
          attention: str = "sdpa", gradient_checkpointing: bool = False, foreach: bool | None = True,
          max_grad_norm: float = 1.0, round_to: int = 1, gpu: bool = False) -> StepTrace:
    """The step on fake tensors. `foreach`: what AdamW and clipping use on the target device
    (True on CUDA, torch's default there; None: torch's default for the CPU); `round_to`: the
    target allocator's rounding (512 for CUDA); `gpu`: attention as a GPU's fused kernels run it
    and dropout (gpu_kernels)."""
    model, _, quantisable = build_model(model_cfg, task, method, args, precision, attention=attention,
                                        gradient_checkpointing=gradient_checkpointing)
    mode = FakeTensorMode()
    shapes = [tuple(w.shape) for w in quantisable]
    traced_size = quantisable[0].element_size() if quantisable else 4
    model = fakeify(model, mode)
    autocast_dtype = get_precision(precision).autocast_dtype
    autocast = (lambda: torch.autocast("cpu", dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext
    kernels = gpu_kernels() if gpu else contextlib.nullcontext()
    with mode, kernels, masks_built_as_for_padding():
        batch = fake_batch(task, model.config if hasattr(model, "config") else None, batch_size, seq_len)
        timeline, ops = run_step(model, batch, autocast, foreach, max_grad_norm, count_ops=True,
                                 round_to=round_to, fake=gradient_checkpointing)
    if attention == "flash" and task.kind == "causal_lm":
        ops = _flash_causal(ops)
    ops = ops + dequantise_ops(precision, shapes, 3 if gradient_checkpointing else 2)
    return StepTrace(timeline, ops, shapes, traced_size)
