"""``profile``: exact MACs, parameters and activations from the spec alone.

Convention (everywhere nascomp prints a cost): **MACs** are the multiply-accumulates of conv, linear and matmul ops,
exactly ``torch.utils.flop_counter.FlopCounterMode``'s total divided by 2 (that counter counts 2 FLOPs per MAC).
This is the figure torchvision's model cards print as "GFLOPS" and that the ResNet (arXiv:1512.03385) and SE
(arXiv:1709.01507) papers call FLOPs. Bias, BatchNorm, activations, pooling and elementwise ops are not in MACs.
**params** is ``sum(p.numel() for p in model.parameters())``. **activations** is the number of elements output by
conv and linear ops for one sample (the convention of pycls, Radosavovic et al., "Designing Network Design
Spaces", arXiv:2003.13678).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nascomp._shape import format_shape
from nascomp.cost.budget import format_macs
from nascomp.graph.build import expand_spec
from nascomp.graph.expander import Expansion, PrimNode, needed_nodes
from nascomp.spec.load import SpecSource, load_spec

__all__ = ["Profile", "NodeCost", "profile", "MACS_CONVENTION"]

MACS_CONVENTION = "MACs = multiply-accumulates of conv/linear/matmul (FlopCounterMode FLOPs / 2; torchvision's \"GFLOPS\")"


@dataclass(frozen=True)
class NodeCost:
    """Cost of one node for one sample.

    Attributes:
        id: Qualified node id (``layer1`` for a top-level node, ``layer1.0.conv1`` per primitive).
        type: Op or block name (``repeat`` for a repeated node, ``group`` for a group).
        out_shape: Output shape, batch excluded.
        macs: MACs (conv, linear and matmul only).
        params: Parameter elements.
        activations: Elements output by conv and linear ops.
    """

    id: str
    type: str
    out_shape: tuple[int, ...]
    macs: int
    params: int
    activations: int


@dataclass(frozen=True)
class Profile:
    """Exact cost of an architecture for one sample at ``input_shape``.

    Attributes:
        name: The spec's name.
        input_shape: ``(C, H, W)`` the cost was computed at.
        output_shape: Output shape, batch excluded.
        macs: Total MACs (see the module docstring for the convention).
        params: Total parameter elements (auxiliary heads included: they are parameters of the module).
        activations: Total elements output by conv and linear ops.
    """

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int
    params: int
    activations: int
    expansion: Expansion = field(repr=False, compare=False)

    def rows(self, expand: bool = False) -> list[NodeCost]:
        """Per-node costs: one row per top-level node, or one per primitive op with ``expand=True``."""
        if expand:
            return [
                NodeCost(n.name, n.op.name, n.out_shape, n.macs, n.num_params, n.activations)
                for n in self.expansion.flatten()
            ]
        rows = []
        for item in self.expansion.items:
            if isinstance(item, PrimNode):
                rows.append(NodeCost(item.name, item.op.name, item.out_shape, item.macs, item.num_params, item.activations))
            else:
                e = item.expansion
                rows.append(NodeCost(item.prefix, item.label, e.out_shape, e.macs, e.params, e.activations))
        return rows

    def summary(self) -> str:
        """One line naming the convention: ``resnet50 @ 3x224x224: 4.09 GMACs (MACs = multiply-accumulates ...), 25.56 M params``."""
        shape = format_shape(self.input_shape, sep="x")
        return (
            f"{self.name} @ {shape}: {format_macs(self.macs)} ({MACS_CONVENTION}), {self.params / 1e6:.2f} M params"
        )


def profile(
    source: SpecSource, input_shape: tuple[int, int, int] | None = None, *, training: bool = False, **overrides: Any
) -> Profile:
    """Compute the exact cost of a spec without allocating weights or running a forward pass.

    Args:
        source: A :class:`~nascomp.spec.model.Spec`, a spec file, a zoo name or YAML text.
        input_shape: ``(C, H, W)`` to cost at; default the spec's own ``input_shape``.
        training: Also count the training-only ``aux_outputs`` heads (GoogLeNet, Inception v3); by default the
            cost is that of eval mode, where they do not run.
        **overrides: Spec ``params`` to override (``num_classes=10``).

    Returns:
        A :class:`Profile` with integer ``macs``, ``params`` and ``activations`` and per-node rows. ``macs`` equals
        ``FlopCounterMode`` total // 2 and ``params`` equals ``sum(p.numel())`` of ``nascomp.build`` of the same
        spec, exactly.

    Raises:
        SpecError: the spec is invalid (the same checks as :func:`nascomp.build`).

    Example:
        >>> p = profile("resnet50")
        >>> p.macs, p.params
        (4089184256, 25557032)
    """
    spec = load_spec(source, input_shape=input_shape, **overrides)
    expansion = expand_spec(spec)
    macs, n_params, activations = expansion.macs, expansion.params, expansion.activations
    if expansion.aux_outputs and not training:  # eval mode: only what the main output needs runs
        main = needed_nodes(expansion, [expansion.qualified_output()])
        macs = sum(n.macs for n in main)
        activations = sum(n.activations for n in main)
    return Profile(
        name=spec.name,
        input_shape=tuple(spec.input_shape),
        output_shape=tuple(expansion.out_shape),
        macs=macs,
        params=n_params,
        activations=activations,
        expansion=expansion,
    )
