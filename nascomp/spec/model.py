"""Typed, immutable records of a parsed spec: :class:`Spec`, :class:`NodeSpec`, :class:`BlockDef`.

Values inside ``params`` may still hold ``${...}`` expressions; they are evaluated when the graph is expanded,
because they depend on the inferred input shape and the repetition index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascomp.spec.params import ParamDecl

__all__ = ["NodeSpec", "RepeatSpec", "BlockDef", "Spec", "RESERVED_NODE_KEYS"]

RESERVED_NODE_KEYS = ("id", "type", "inputs", "repeat", "when", "nodes", "output", "doc")


@dataclass(frozen=True)
class RepeatSpec:
    """How a node is repeated.

    Attributes:
        count: Number of copies (int or ``${...}``).
        id_format: ``None`` for the nested form (a group of children ``"0"``..``"N-1"``); else the pattern of the
            flat copies' ids, with ``{i}`` (0-based) and ``{n}`` (1-based).
        connect: ``"chain"`` (each copy feeds the next) or ``"dense"`` (DenseNet connectivity).
    """

    count: Any
    id_format: str | None = None
    connect: str = "chain"


@dataclass(frozen=True)
class NodeSpec:
    """One node of a spec or block body.

    Attributes:
        id: Name within its scope (becomes the module name).
        type: Primitive op, ``group`` or block name.
        params: Remaining keys (parameters of the type), possibly holding expressions.
        inputs: Ids of the inputs in the same scope, or ``None`` for "the previous node".
        repeat: Repetition, or ``None``.
        when: ``None`` (always), a bool or an expression; false skips the node (identity).
        nodes: A group's body, else ``None``.
        output: A group's output id, else ``None``.
        file: Source file, for messages.
        line: 1-based line of the node in ``file``.
        param_lines: Line of each parameter key.
    """

    id: str
    type: str
    params: dict[str, Any]
    inputs: tuple[str, ...] | None = None
    repeat: RepeatSpec | None = None
    when: Any = None
    nodes: tuple["NodeSpec", ...] | None = None
    output: str | None = None
    file: str | None = None
    line: int | None = None
    param_lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class BlockDef:
    """A block declared in YAML: a parameterised subgraph with one input and one output.

    Attributes:
        name: Registry name, used as a node ``type``.
        doc: Documentation (shapes, paper).
        params: Declared parameters by name.
        let: Derived values ``(name, value-or-expression)``, evaluated in order.
        nodes: The body.
        output: Output id, or ``None`` for the last node.
        file: Source file.
        line: Line of the definition.
    """

    name: str
    doc: str
    params: dict[str, ParamDecl]
    let: tuple[tuple[str, Any], ...]
    nodes: tuple[NodeSpec, ...]
    output: str | None
    file: str | None
    line: int | None


@dataclass(frozen=True)
class Spec:
    """A parsed architecture spec.

    Attributes:
        name: Architecture name.
        doc: Free text (paper, table, deviations, expected cost).
        input_shape: ``(C, H, W)`` of one sample.
        params: Spec-level parameters with their values (defaults merged with overrides).
        nodes: The top-level nodes.
        output: Output id, or ``None`` for the last node.
        blocks: Blocks defined locally or imported by this spec, by name.
        source: The file it was read from, or ``None`` for inline text.
        raw: The mapping as read from YAML (for re-export).
        reference: Optional reference figures (``source``, ``kwargs``, ``params``, ``macs``) of a canonical net;
            not used for building.
        aux_outputs: Ids of top-level nodes returned, after the output, in training mode only (auxiliary
            classifiers of GoogLeNet and Inception v3). Not computed in eval mode.
        library: The block library this spec sees (built-ins plus its imports and local blocks).
    """

    name: str
    doc: str
    input_shape: tuple[int, ...]
    params: dict[str, Any]
    nodes: tuple[NodeSpec, ...]
    output: str | None
    blocks: dict[str, BlockDef]
    source: Path | None
    raw: dict = field(compare=False, repr=False)
    reference: dict | None = field(default=None, compare=False)
    aux_outputs: tuple[str, ...] = ()
    library: Any = field(default=None, compare=False, repr=False)

    @property
    def file(self) -> str | None:
        return str(self.source) if self.source is not None else None
