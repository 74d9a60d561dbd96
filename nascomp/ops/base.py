"""The primitive-op interface: a shape rule, a cost rule and a module factory per op.

Every op knows, from its parameters and its input shapes alone (no weights, no forward pass):
its output shape (:meth:`Op.infer`), its MACs (:meth:`Op.macs`) and its parameter count (:meth:`Op.num_params`).
:meth:`Op.module` builds the ``nn.Module``; ops without state (``add``, ``concat``...) emit a torch.fx
``call_function`` instead (:meth:`Op.emit`).

Shapes exclude the batch dimension: ``(C, H, W)`` for feature maps, ``(F,)`` after a flatten.
MACs are multiply-accumulates of conv, linear and matmul ops, exactly
``torch.utils.flop_counter.FlopCounterMode``'s total divided by 2; bias, BatchNorm, activations, pooling and
elementwise ops count 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import fx, nn

from nascomp._shape import format_shape
from nascomp.spec.params import ParamDecl

__all__ = ["Op", "OpError", "Shape", "Params"]

Shape = tuple[int, ...]
Params = dict[str, Any]


class OpError(ValueError):
    """Input shapes or parameters that an op cannot accept (the caller adds file, line and node)."""


class Op:
    """Base class of primitive ops. Subclasses set :attr:`name`, :attr:`params` and override the rules."""

    name: ClassVar[str]
    params: ClassVar[tuple[ParamDecl, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    doc: ClassVar[str] = ""

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        """Output shape for inputs of ``shapes``. Raises :class:`OpError` when they cannot be accepted."""
        return shapes[0]

    def macs(self, p: Params, shapes: list[Shape], out: Shape) -> int:
        """Multiply-accumulates for one sample (conv, linear and matmul only; everything else 0)."""
        return 0

    def num_params(self, p: Params, shapes: list[Shape]) -> int:
        """Number of trainable parameter elements (``sum(p.numel())`` of the module)."""
        return 0

    def module(self, p: Params, shapes: list[Shape]) -> nn.Module | None:
        """The module to run, or ``None`` when the op is emitted as a function call (:meth:`emit`)."""
        return None

    def emit(self, graph: fx.Graph, args: list[fx.Node], p: Params, name: str) -> fx.Node:
        """Emit the op into ``graph`` as a function call (ops without a module)."""
        raise NotImplementedError(f"op '{self.name}' has neither a module nor an emitter")


def require_feature_map(op: Op, shapes: list[Shape]) -> Shape:
    """Return the single input shape, raising :class:`OpError` unless it is a ``(C, H, W)`` feature map."""
    shape = shapes[0]
    if len(shape) != 3:
        raise OpError(
            f"{op.name} expects a (C, H, W) feature map, found input shape {format_shape(shape)} "
            f"(after a flatten or linear, use linear)"
        )
    return shape


def emit_call(graph: fx.Graph, fn: Any, args: tuple, kwargs: dict | None = None, name: str | None = None) -> fx.Node:
    node = graph.call_function(fn, args, kwargs or {})
    if name:
        node.name = graph._graph_namespace.create_name(name, node)  # readable generated code
    return node


_ = torch  # re-exported for subclasses' type hints
