"""The result of expanding a spec: a tree of primitive nodes and nested scopes, with shapes and totals.

Names inside an :class:`Expansion` are relative to it; :meth:`Expansion.flatten` gives fully qualified names
(``layer1.0.conv1``), which are the module names and so the ``state_dict`` prefixes. :func:`qualify` is the one
rule that turns a name inside a scope into its name outside (used by the expander, the compiler and the drawing).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nascomp.ops import Op, Shape

__all__ = ["INPUT", "Totals", "PrimNode", "Sub", "Expansion", "count_ops", "qualify", "needed_nodes"]

INPUT = "input"
_ACTIVATION_OPS = ("conv2d", "linear")  # activations counted as in pycls/fvcore: outputs of conv and linear


@dataclass(frozen=True)
class Totals:
    """Costs of one sample through a part of a net; ``a + b`` adds them.

    Attributes:
        macs: Multiply-accumulates of conv, linear and matmul ops.
        params: Parameter elements.
        activations: Elements of all conv and linear outputs.

    Example:
        >>> Totals(10, 2, 5) + Totals(1, 1, 1)
        Totals(macs=11, params=3, activations=6)
    """

    macs: int = 0
    params: int = 0
    activations: int = 0

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(self.macs + other.macs, self.params + other.params, self.activations + other.activations)


def qualify(ref: str, prefix: str, input_ref: str) -> str:
    """The name outside a scope of ``ref`` inside it: the scope sits at ``prefix`` and reads ``input_ref``.

    Example:
        >>> qualify("conv1", "layer1.0", "stem"), qualify(INPUT, "layer1.0", "stem"), qualify("conv1", "", "x")
        ('layer1.0.conv1', 'stem', 'conv1')
    """
    if ref == INPUT:
        return input_ref
    return f"{prefix}.{ref}" if prefix else ref


@dataclass(frozen=True)
class PrimNode:
    """One primitive op with its checked parameters, shapes and cost (names relative to the enclosing expansion).

    Attributes:
        name: Relative name (the module name).
        op: The op.
        params: Checked parameters (defaults filled).
        inputs: Relative names of the input nodes, or :data:`INPUT`.
        in_shapes: Input shapes (batch excluded).
        out_shape: Output shape (batch excluded).
        macs: MACs for one sample (conv, linear and matmul only).
        num_params: Parameter elements.
        file: Source file of the node.
        line: Source line of the node.
    """

    name: str
    op: Op
    params: dict[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    macs: int
    num_params: int
    file: str | None
    line: int | None

    @property
    def activations(self) -> int:
        if self.op.name not in _ACTIVATION_OPS:
            return 0
        n = 1
        for s in self.out_shape:
            n *= s
        return n

    @property
    def totals(self) -> Totals:
        return Totals(self.macs, self.num_params, self.activations)

    def qualified(self, prefix: str, input_ref: str) -> "PrimNode":
        """This node with its name and inputs as seen outside a scope at ``prefix`` reading ``input_ref``."""
        if not prefix and input_ref == INPUT:
            return self
        return PrimNode(
            qualify(self.name, prefix, input_ref), self.op, self.params,
            tuple(qualify(i, prefix, input_ref) for i in self.inputs),
            self.in_shapes, self.out_shape, self.macs, self.num_params, self.file, self.line,
        )


@dataclass(frozen=True)
class Sub:
    """A nested expansion (group, block instance or repetition) placed under ``prefix`` with input ``input``.

    Attributes:
        prefix: Its name in the enclosing scope.
        kind: The block name or ``group`` (for a repetition: the repeated node's type as written).
        expansion: The nested expansion.
        input: Relative name (in the enclosing scope) of its input.
        in_shape: Its input shape.
        repeat: For a repetition, the number of copies; else ``None``.
    """

    prefix: str
    kind: str
    expansion: "Expansion"
    input: str
    in_shape: Shape
    repeat: int | None = None

    @property
    def label(self) -> str:
        """``bottleneck`` or, for a repetition, ``bottleneck x3`` (tables and module reprs)."""
        return self.kind if self.repeat is None else f"{self.kind} x{self.repeat}"

    @property
    def totals(self) -> Totals:
        return self.expansion.totals


@dataclass(frozen=True)
class Expansion:
    """An expanded scope: items in execution order, its output reference and its totals.

    Attributes:
        items: :class:`PrimNode` and :class:`Sub` in topological order.
        output: Relative name of the output node, or :data:`INPUT` when the scope is an identity.
        out_shape: Output shape.
        macs: Total MACs for one sample.
        params: Total parameter elements.
        activations: Elements of all conv and linear outputs for one sample.
        aux_outputs: Relative names of training-only outputs (top level only; see ``aux_outputs`` in specs).
        num_ops: Primitive ops in it once flattened (a memoised block used N times counts N times).
    """

    items: tuple[PrimNode | Sub, ...]
    output: str
    out_shape: Shape
    macs: int
    params: int
    activations: int
    aux_outputs: tuple[str, ...] = ()
    num_ops: int = 0

    @classmethod
    def of(
        cls, items: Iterable[PrimNode | Sub], output: str, out_shape: Shape, aux_outputs: tuple[str, ...] = ()
    ) -> "Expansion":
        """The expansion of ``items`` with its totals summed from them."""
        items = tuple(items)
        totals = sum((item.totals for item in items), Totals())
        return cls(
            items, output, out_shape, totals.macs, totals.params, totals.activations, aux_outputs, count_ops(items)
        )

    @property
    def totals(self) -> Totals:
        return Totals(self.macs, self.params, self.activations)

    def flatten(self, prefix: str = "", input_ref: str = INPUT) -> Iterator[PrimNode]:
        """Yield every primitive node with fully qualified names and inputs."""
        for item in self.items:
            if isinstance(item, PrimNode):
                yield item.qualified(prefix, input_ref)
            else:
                sub_prefix = qualify(item.prefix, prefix, input_ref)
                yield from item.expansion.flatten(sub_prefix, qualify(item.input, prefix, input_ref))

    def qualified_output(self, prefix: str = "", input_ref: str = INPUT) -> str:
        return qualify(self.output, prefix, input_ref)


def count_ops(items: Iterable[PrimNode | Sub]) -> int:
    """How many primitive ops ``items`` hold once flattened (from the counts kept on each nested expansion)."""
    return sum(1 if isinstance(item, PrimNode) else item.expansion.num_ops for item in items)


def needed_nodes(source: Expansion | Iterable[PrimNode], outputs: list[str]) -> list[PrimNode]:
    """The primitive nodes (qualified) that ``outputs`` depend on, in execution order.

    Args:
        source: An expansion (flattened here) or its already flattened nodes.
        outputs: Qualified names of the wanted outputs.
    """
    nodes = list(source.flatten()) if isinstance(source, Expansion) else list(source)
    by_name = {n.name: n for n in nodes}
    needed: set[str] = set()
    stack = [o for o in outputs if o in by_name]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(i for i in by_name[name].inputs if i in by_name and i not in needed)
    return [n for n in nodes if n.name in needed]
