"""Shared checks of the op and block contract suites (``test_op_contract.py``, ``test_block_contract.py``).

:func:`check_contract` holds a spec's analytic figures (``nascomp.profile``) against the module ``nascomp.build``
makes of it, measured with torch alone:

* the output shape, and the shape of every module-backed node (``torch.fx`` ``ShapeProp``), equal the inferred ones;
* ``profile().params == sum(p.numel())``, in total and for every primitive node's module;
* ``profile().macs == FlopCounterMode total // 2`` (batch 1, eval mode; the total must be even), and so is every
  primitive node's MACs (``FlopCounterMode.get_flop_counts()`` per module);
* ``profile().activations`` equals the elements output by every ``nn.Conv2d``/``nn.Linear`` (forward hooks);
* a backward pass reaches every parameter with a finite, non-zero gradient, and no output is NaN or infinite.

The reference figures never come from nascomp: they are read off the built ``nn.Module`` by torch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

import nascomp


def net(nodes: list[dict], input_shape: tuple[int, int, int], **extra: Any) -> dict:
    """A spec mapping holding ``nodes`` (what a user would write in YAML, as a Python mapping)."""
    return {"name": "contract_case", "input_shape": list(input_shape), "nodes": nodes, **extra}


def flop_counter_macs(model: nn.Module, x: torch.Tensor) -> int:
    """``FlopCounterMode`` total // 2 of one forward pass (asserts the total is even: 2 FLOPs per MAC)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    total = counter.get_total_flops()
    assert total % 2 == 0, f"FlopCounterMode total {total} is odd"
    return total // 2


def flop_counter_macs_per_module(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """MACs of each leaf module by qualified name (``layer1.0.conv1``), from ``FlopCounterMode.get_flop_counts()``."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    root = type(model).__name__
    counts = {}
    for name, per_op in counter.get_flop_counts().items():
        if name.startswith(root + "."):
            counts[name[len(root) + 1:]] = sum(per_op.values()) // 2
    return counts


def assert_per_node_macs(prof: nascomp.Profile, model: nn.Module, x: torch.Tensor) -> None:
    """Every primitive row's MACs equal FlopCounterMode's count for the module of the same name."""
    measured = flop_counter_macs_per_module(model, x)
    rows = {row.id: row.macs for row in prof.rows(expand=True)}
    for name, macs in measured.items():
        if name in rows:  # (a module's parents are counted too; only leaves have rows)
            assert rows[name] == macs, f"node {name}: profile {rows[name]:,} MACs, FlopCounterMode/2 {macs:,}"
    missing = [n for n, m in rows.items() if m and n not in measured]
    assert not missing, f"rows with MACs that FlopCounterMode did not see: {missing[:5]}"


def conv_linear_outputs(model: nn.Module, x: torch.Tensor) -> int:
    """Elements output by every ``nn.Conv2d`` and ``nn.Linear`` for one sample (forward hooks)."""
    seen: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen.append(out[0].numel()))
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return sum(seen)


def check_contract(spec: Any, *, grad_batch: int = 2, seed: int = 0) -> nascomp.Profile:
    """Assert the op/block contract for ``spec`` (a mapping, YAML text or path). Returns the profile."""
    prof = nascomp.profile(spec)
    torch.manual_seed(seed)
    model = nascomp.build(spec)
    shape = tuple(prof.input_shape)

    # params: analytic == real
    real_params = sum(p.numel() for p in model.parameters())
    assert prof.params == real_params, f"profile params {prof.params:,} != sum(numel) {real_params:,}"

    # output shape and finiteness (eval, batch 1)
    model.eval()
    x = torch.randn(1, *shape)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (1, *prof.output_shape), f"output {tuple(y.shape)} != inferred (1, {prof.output_shape})"
    assert torch.isfinite(y).all(), "eval output has NaN/inf"

    # every module-backed node's shape equals its inferred shape, and its params its module's
    rows = {row.id: row for row in prof.rows(expand=True)}
    for name, row in rows.items():
        try:
            module = model.get_submodule(name)
        except AttributeError:  # a function node (add, concat, global_pool...): no parameters
            assert row.params == 0, f"node {name} has {row.params} params but no module"
            continue
        real = sum(p.numel() for p in module.parameters())
        assert row.params == real, f"node {name}: profile {row.params:,} params, module {real:,}"
    inferred = {name: tuple(row.out_shape) for name, row in rows.items()}
    gm = model
    ShapeProp(gm).propagate(x)
    checked = 0
    for node in gm.graph.nodes:
        if node.op == "call_module" and node.target in inferred:
            got = tuple(node.meta["tensor_meta"].shape)[1:]
            assert got == inferred[node.target], f"node {node.target}: real shape {got} != inferred {inferred[node.target]}"
            checked += 1
    n_modules = sum(1 for n in gm.graph.nodes if n.op == "call_module")
    assert checked == n_modules, f"only {checked} of {n_modules} module nodes have an inferred row"

    # MACs: analytic == FlopCounterMode // 2, exactly
    real_macs = flop_counter_macs(model, x)
    assert prof.macs == real_macs, f"profile MACs {prof.macs:,} != FlopCounterMode/2 {real_macs:,}"
    assert_per_node_macs(prof, model, x)

    # activations: elements output by conv and linear modules
    assert prof.activations == conv_linear_outputs(model, x)

    # gradients reach every parameter (train mode, a random projection of the output as the loss)
    model.train()
    torch.manual_seed(seed + 1)
    xb = torch.randn(grad_batch, *shape, requires_grad=True)
    yb = model(xb)
    assert torch.isfinite(yb).all(), "train output has NaN/inf"
    loss = (yb * torch.randn_like(yb)).sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
        assert p.grad.abs().sum() > 0, f"all-zero gradient in {name}"
    assert xb.grad is not None and torch.isfinite(xb.grad).all()
    return prof


def expanded_op_types(prof: nascomp.Profile) -> set[str]:
    """Op names of every primitive node of a profile."""
    return {row.type for row in prof.rows(expand=True)}


def prod(shape) -> int:
    return math.prod(shape)
