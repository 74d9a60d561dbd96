"""Ops that merge several inputs: ``add``, ``mul`` (broadcasting) and ``concat`` (channels)."""

from __future__ import annotations

import operator

import torch
from torch import fx

from nascomp.ops.base import Op, OpError, Params, Shape, emit_call, format_shape

__all__ = ["Add", "Mul", "Concat"]


def _broadcast(op: Op, shapes: list[Shape]) -> Shape:
    if all(s == shapes[0] for s in shapes):  # the common case (a residual add), without torch's general rule
        return tuple(shapes[0])
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        raise OpError(
            f"{op.name} of mismatched shapes {', '.join(format_shape(s) for s in shapes)}: they must be equal or "
            f"broadcastable (e.g. (C, H, W) with (C, 1, 1))"
        ) from None


class _Elementwise(Op):
    """An elementwise op of 2+ inputs with torch broadcasting; emitted as a chain of ``fn`` calls. 0 MACs."""

    min_inputs = 2
    max_inputs = None
    fn = staticmethod(operator.add)

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        return _broadcast(self, shapes)

    def emit(self, graph: fx.Graph, args: list[fx.Node], p: Params, name: str) -> fx.Node:
        node = args[0]
        for other in args[1:]:
            node = emit_call(graph, self.fn, (node, other), name=name)
        return node


class Add(_Elementwise):
    """Elementwise sum of 2+ inputs (torch broadcasting), e.g. a residual connection. 0 MACs."""

    name = "add"
    fn = staticmethod(operator.add)


class Mul(_Elementwise):
    """Elementwise product of 2+ inputs (torch broadcasting), e.g. the excitation of SE: (C, H, W) * (C, 1, 1). 0 MACs."""

    name = "mul"
    fn = staticmethod(operator.mul)


class Concat(Op):
    """Concatenation along channels (``torch.cat(xs, 1)``): ``(C_i, H, W) -> (sum C_i, H, W)``.
    The spatial sizes must agree. 0 MACs.
    """

    name = "concat"
    min_inputs = 2
    max_inputs = None

    def infer(self, p: Params, shapes: list[Shape]) -> Shape:
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or s[1:] != first[1:]:
                raise OpError(
                    f"concat of mismatched spatial sizes: input shapes {', '.join(format_shape(s) for s in shapes)}; "
                    f"all but the channel dimension must agree (check strides and padding of the branches)"
                )
        return (sum(s[0] for s in shapes), *first[1:])

    def emit(self, graph: fx.Graph, args: list[fx.Node], p: Params, name: str) -> fx.Node:
        return emit_call(graph, torch.cat, (list(args), 1), name=name)
