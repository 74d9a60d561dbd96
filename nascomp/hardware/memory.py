"""Peak memory of one training step, predicted from the spec alone (no weights, no forward pass).

One step of nascomp's training loop (:func:`nascomp.train.fit`, :class:`nascomp.train.TrainStep`) is: forward, loss,
``zero_grad(set_to_none=True)``, backward, optimizer step, in float32 with channels-last tensors. The prediction
replays that step over the expanded graph, tensor by tensor, and returns the largest total it reaches:

- **always held**: parameters, the optimizer state (SGD with momentum: 1x the parameters; AdamW: 2x, its two
  moments) and the batch (images and labels);
- **forward**: last step's gradients are still held (they are freed by ``zero_grad``, which runs after the
  forward); each op's output is allocated; a tensor lives until its last reader has run, or, when an op saves it for
  backward, until that op's backward has run. What autograd saves, per op (torch's ``derivatives.yaml``): conv2d
  and linear their input; batch_norm2d its input; relu, sigmoid and tanh their output; silu, gelu, relu6 and the
  hard activations their input; max pooling its input and int64 indices of the output's size; average and adaptive
  pooling their input; a global max its input and output, a global mean nothing; mul (SE's excitation) both inputs;
  add, concat, flatten nothing. An in-place ReLU (nascomp makes a ReLU in place where that cannot change a result,
  :mod:`nascomp.graph.compile`) shares its input's storage; so do identity, a flatten that is a view and dropout
  with ``p = 0``; dropout on CPU saves a float mask of its input's size;
- **backward**, op by op in reverse: the gradient of each input is allocated, the gradient of the output and the
  tensors only this op saved are freed, and the parameter gradients accumulate; a broadcasting mul holds one
  extra full-size product while it reduces the gradient of its smaller input;
- **transients**: on CPU, oneDNN's convolution reorders its weight into a temporary copy on every call (forward,
  and twice in backward: weight and weight gradient); the optimizer's per-tensor (CPU) step holds temporaries of
  the largest parameter's size (SGD with weight decay and Nesterov: 2, fused AdamW: none).

Measured against the CPU allocator's peak (torch's profiler with ``profile_memory=True``,
:func:`nascomp.hardware.memory_measure.measure_training_peak`): see docs/memory.md for the error, nets and date.
Not modelled: CUDA's mixed precision (activations in 16 bits), cuDNN workspaces, the allocator's rounding and
caching (``torch.cuda.max_memory_allocated`` figures are missing: no GPU was at hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nascomp.graph.build import expand_spec
from nascomp.graph.expander import INPUT, PrimNode
from nascomp._units import format_bytes
from nascomp.hardware.names import MEMORY_OPTIMIZERS
from nascomp.spec.load import SpecSource, load_spec

__all__ = ["TrainingMemory", "predict_training_memory", "MEMORY_OPTIMIZERS", "format_bytes"]

_STEP_TEMPORARIES = {"sgd": 2, "adamw": 0}  # largest-parameter-sized temporaries of the CPU step

FLOAT32 = 4
INT64 = 8

_SAVES_INPUT = {"conv2d", "linear", "batch_norm2d", "silu", "gelu", "relu6", "hardsigmoid", "hardswish",
                "avg_pool2d", "adaptive_avg_pool2d"}
_SAVES_OUTPUT = {"relu", "sigmoid", "tanh"}
_INPLACE_SOURCES = {"conv2d", "batch_norm2d", "linear", "add"}


@dataclass(frozen=True)
class TrainingMemory:
    """The predicted memory of one training step at a batch size, in bytes.

    Attributes:
        batch_size: Images per step.
        optimizer: ``sgd`` (momentum) or ``adamw``.
        params_bytes: Parameters (float32).
        grads_bytes: Parameter gradients (as many as the parameters).
        optimizer_bytes: Optimizer state (SGD: 1x the parameters, AdamW: 2x).
        batch_bytes: The batch: float32 images and int64 labels.
        saved_bytes: Tensors autograd holds for backward at the end of the forward (activations).
        peak_bytes: The predicted peak of the whole step: everything held at its highest moment.
        peak_phase: Where the peak falls: ``forward``, ``backward`` or ``optimizer``.
    """

    batch_size: int
    optimizer: str
    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    batch_bytes: int
    saved_bytes: int
    peak_bytes: int
    peak_phase: str

    def summary(self) -> str:
        """``peak 1.23 GiB per training step at batch 64 (adamw): params 98 MiB, ...``"""
        return (
            f"training memory at batch {self.batch_size} ({self.optimizer}, float32): peak "
            f"{format_bytes(self.peak_bytes)}"
            f" (in {self.peak_phase}) = params {format_bytes(self.params_bytes)}, gradients "
            f"{format_bytes(self.grads_bytes)}, optimizer state {format_bytes(self.optimizer_bytes)}, activations "
            f"saved for backward {format_bytes(self.saved_bytes)}, batch {format_bytes(self.batch_bytes)}, and "
            f"transients"
        )


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _inplace_relus(nodes: list[PrimNode]) -> set[str]:
    """Names of the ReLUs nascomp's compiler makes in place (the rule of :mod:`nascomp.graph.compile`): the input
    comes from a conv, BatchNorm, linear or add that nothing else reads."""
    users: dict[str, int] = {}
    for node in nodes:
        for ref in node.inputs:
            users[ref] = users.get(ref, 0) + 1
    by_name = {n.name: n for n in nodes}
    out = set()
    for node in nodes:
        if node.op.name != "relu":
            continue
        src = by_name.get(node.inputs[0])
        if src is not None and src.op.name in _INPLACE_SOURCES and users.get(src.name, 0) == 1:
            out.add(node.name)
    return out


def _is_alias(node: PrimNode, inplace: set[str]) -> bool:
    """Whether the op's output shares its input's storage."""
    kind = node.op.name
    if kind == "identity" or node.name in inplace:
        return True
    if kind == "dropout":
        return node.params["p"] == 0
    if kind == "flatten":  # a view unless channels-last strides force a copy (spatial size above 1)
        shape = node.in_shapes[0]
        return len(shape) < 3 or _numel(shape[1:]) == 1
    return False


@dataclass
class _Tensor:
    bytes: int
    readers_left: int = 0
    savers: int = 0


def predict_training_memory(source: SpecSource, input_shape: tuple[int, int, int] | None = None, *,
                            batch_size: int = 1, optimizer: str = "adamw", **overrides: Any) -> TrainingMemory:
    """Predict the peak memory of one CPU training step (float32, channels-last) from the spec alone.

    Args:
        source: A :class:`~nascomp.spec.model.Spec`, a spec file, a zoo name or YAML text.
        input_shape: ``(C, H, W)`` of the training images; default the spec's own ``input_shape``.
        batch_size: Images per step (``B``); activations scale with it, parameters do not.
        optimizer: ``adamw`` (2 state tensors per parameter) or ``sgd`` (momentum: 1).
        **overrides: Spec ``params`` to override (``num_classes=10``).

    Returns:
        A :class:`TrainingMemory`; ``peak_bytes`` is the prediction of the allocator's peak during a steady-state
        step (the second and later; the first has no gradients or optimizer state yet).

    Raises:
        SpecError: the spec is invalid.
        ValueError: ``batch_size`` below 1 or an unknown optimizer.

    Example:
        >>> mem = predict_training_memory("resnet18", (3, 64, 64), batch_size=8, optimizer="sgd", num_classes=10)
        >>> mem.params_bytes == 4 * 11_181_642
        True
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be a whole number of at least 1, got {batch_size!r}")
    if optimizer not in MEMORY_OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{optimizer}' (valid: {', '.join(MEMORY_OPTIMIZERS)})")
    spec = load_spec(source, input_shape=input_shape, **overrides)
    expansion = expand_spec(spec)
    nodes = list(expansion.flatten())
    b = batch_size
    params = FLOAT32 * expansion.params
    state = MEMORY_OPTIMIZERS[optimizer] * params
    batch = FLOAT32 * b * _numel(tuple(spec.input_shape)) + INT64 * b
    largest_param = FLOAT32 * max((n.num_params for n in nodes), default=0)
    return _replay(nodes, b, params, state, batch, largest_param, optimizer)


def _replay(nodes: list[PrimNode], b: int, params: int, state: int, batch: int, largest_param: int,
            optimizer: str) -> TrainingMemory:
    inplace = _inplace_relus(nodes)
    storage: dict[str, str] = {INPUT: INPUT}  # value name -> the name of the tensor that holds its storage
    tensors: dict[str, _Tensor] = {INPUT: _Tensor(0)}  # the batch is counted in ``batch``
    saved_by: dict[str, list[str]] = {}  # node -> tensors it saves
    for node in nodes:
        for ref in node.inputs:
            tensors[storage[ref]].readers_left += 1
        if _is_alias(node, inplace):
            storage[node.name] = storage[node.inputs[0]]
        else:
            storage[node.name] = node.name
            tensors[node.name] = _Tensor(FLOAT32 * b * _numel(node.out_shape))
        saves = _saved(node, storage)
        for name in saves:
            tensors.setdefault(name, _Tensor(_extra_bytes(node, name, b)))
        saved_by[node.name] = saves
    for n in nodes:
        for name in saved_by[n.name]:
            tensors[name].savers += 1
    # the model's output is read by the loss (log-softmax saves its output: one more tensor of the logits' size)
    out_name = nodes[-1].name if nodes else INPUT
    tensors[storage[out_name]].readers_left += 1

    # -- forward: last step's gradients still held --------------------------------------------------------------
    base = params + state + batch + params
    live = 0
    peak, phase = 0, "forward"
    alive: set[str] = set()
    readers = {k: t.readers_left for k, t in tensors.items()}
    for node in nodes:
        new = [name for name in saved_by[node.name] if name != node.name and name not in alive and name != INPUT]
        if storage[node.name] == node.name:
            new.append(node.name)
        for name in new:
            alive.add(name)
            live += tensors[name].bytes
        transient = _conv_weight_bytes(node) if node.op.name == "conv2d" else 0
        peak = max(peak, base + live + transient)
        for ref in set(node.inputs):
            key = storage[ref]
            readers[key] -= node.inputs.count(ref)
            if readers[key] <= 0 and tensors[key].savers == 0 and key in alive:
                alive.discard(key)
                live -= tensors[key].bytes
    saved_total = live
    logits = FLOAT32 * b * _numel(nodes[-1].out_shape) if nodes else 0
    peak = max(peak, base + live + 2 * logits)

    # -- backward: zero_grad freed the old gradients; new ones accumulate ---------------------------------------
    base = params + state + batch
    grads = 0
    grad_of: dict[str, int] = {out_name: logits}
    live_grads = logits + logits  # the output's gradient, and log-softmax's saved output until its backward
    savers_left = {k: t.savers for k, t in tensors.items()}
    for node in reversed(nodes):
        g_out = grad_of.pop(node.name, 0)
        extra = 0
        new_grads = 0
        for ref, shape in zip(node.inputs, node.in_shapes):
            if ref == INPUT:
                continue
            size = FLOAT32 * b * _numel(shape)
            if ref in grad_of:
                extra = max(extra, size)  # summed in place into the existing buffer, after this transient
            else:
                grad_of[ref] = size
                new_grads += size
        if node.op.name == "mul" and len({tuple(s) for s in node.in_shapes}) > 1:
            extra += FLOAT32 * b * _numel(node.out_shape)
        if node.op.name == "conv2d":
            extra += 2 * _conv_weight_bytes(node)
        grads += FLOAT32 * node.num_params
        live_grads += new_grads
        peak_here = base + grads + live + live_grads + extra
        if peak_here > peak:
            peak, phase = peak_here, "backward"
        live_grads -= g_out
        for name in saved_by[node.name]:
            savers_left[name] -= 1
            if savers_left[name] == 0 and name in alive:
                alive.discard(name)
                live -= tensors[name].bytes
    # -- optimizer step ------------------------------------------------------------------------------------------
    step_peak = params + params + state + batch + _STEP_TEMPORARIES[optimizer] * largest_param
    if step_peak > peak:
        peak, phase = step_peak, "optimizer"
    return TrainingMemory(batch_size=b, optimizer=optimizer, params_bytes=params, grads_bytes=params,
                          optimizer_bytes=state, batch_bytes=batch, saved_bytes=saved_total, peak_bytes=peak,
                          peak_phase=phase)


def _conv_weight_bytes(node: PrimNode) -> int:
    """Bytes of a conv's weight (bias excluded): the size of oneDNN's reordered copy."""
    kh, kw = node.params["kernel_size"]
    return FLOAT32 * node.out_shape[0] * (node.in_shapes[0][0] // node.params["groups"]) * kh * kw


def _saved(node: PrimNode, storage: dict[str, str]) -> list[str]:
    """Names of the tensors ``node`` saves for backward (its inputs' storages, its output's, or extra ones)."""
    kind = node.op.name
    ins = [storage[r] for r in node.inputs]
    if kind in _SAVES_INPUT:
        return ins[:1]
    if kind in _SAVES_OUTPUT:
        return [storage[node.name]]
    if kind in ("max_pool2d", "adaptive_max_pool2d"):
        return [ins[0], f"{node.name}#indices"]
    if kind == "global_pool":
        return [ins[0], storage[node.name]] if node.params["mode"] == "max" else []
    if kind == "mul":
        return list(dict.fromkeys(ins))
    if kind == "dropout" and node.params["p"] > 0:
        return [f"{node.name}#mask"]
    return []


def _extra_bytes(node: PrimNode, name: str, b: int) -> int:
    """Bytes of a saved tensor that is not an op's output: pooling indices (int64), dropout's float mask."""
    if name.endswith("#indices"):
        return INT64 * b * _numel(node.out_shape)
    if name.endswith("#mask"):
        return FLOAT32 * b * _numel(node.in_shapes[0])
    return 0
