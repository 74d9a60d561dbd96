"""Expand a spec into a graph of primitive ops with every shape, MAC and parameter count inferred.

Expansion walks each scope (the spec, a group, a block instance) in dependency order: it checks ids and
references (a networkx DAG finds cycles), evaluates ``${...}`` expressions, checks every parameter against its
declaration, infers each node's output shape with the op's shape rule and costs it with the op's cost rule.
Nothing is allocated and nothing runs. Block instances are memoised by (block, parameters, input shape).

The result is an :class:`Expansion`: a tree of :class:`PrimNode` and :class:`Sub` items with totals. Names inside
an expansion are relative to it; :meth:`Expansion.flatten` gives fully qualified names (``layer1.0.conv1``),
which are the module names and so the ``state_dict`` prefixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from nascomp.errors import RegistryError, SpecError
from nascomp.ops import OPS, Op, OpError, Shape
from nascomp.registry import closest_names
from nascomp.spec.expr import ExprError, is_expr
from nascomp.spec.library import BlockLibrary
from nascomp.spec.model import BlockDef, NodeSpec, RepeatSpec
from nascomp.spec.params import _UNCHECKED, ParamDecl, ParamError

__all__ = ["INPUT", "PrimNode", "Sub", "Expansion", "expand_nodes", "Frame"]

INPUT = "input"
MAX_REPEAT = 10_000  # copies of one repeated node; far above any real net, low enough to fail fast on a typo
MAX_BLOCK_DEPTH = 50  # nested block instances; deeper is a runaway recursion (Python's stack would overflow)
_ACTIVATION_OPS = ("conv2d", "linear")  # activations counted as in pycls/fvcore: outputs of conv and linear


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


@dataclass(frozen=True)
class Sub:
    """A nested expansion (group, block instance or repetition) placed under ``prefix`` with input ``input``.

    Attributes:
        prefix: Its name in the enclosing scope.
        kind: Block name, ``group`` or ``repeat``, for tables and module reprs.
        expansion: The nested expansion.
        input: Relative name (in the enclosing scope) of its input.
        in_shape: Its input shape.
    """

    prefix: str
    kind: str
    expansion: "Expansion"
    input: str
    in_shape: Shape


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
    """

    items: tuple[PrimNode | Sub, ...]
    output: str
    out_shape: Shape
    macs: int
    params: int
    activations: int
    aux_outputs: tuple[str, ...] = ()

    def flatten(self, prefix: str = "", input_ref: str = INPUT) -> Iterator[PrimNode]:
        """Yield every primitive node with fully qualified names and inputs."""
        for item in self.items:
            if isinstance(item, PrimNode):
                yield _qualify(item, prefix, input_ref)
            else:
                sub_prefix = f"{prefix}.{item.prefix}" if prefix else item.prefix
                sub_input = _qualify_ref(item.input, prefix, input_ref)
                yield from item.expansion.flatten(sub_prefix, sub_input)

    def qualified_output(self, prefix: str = "", input_ref: str = INPUT) -> str:
        return _qualify_ref(self.output, prefix, input_ref)


def _qualify_ref(ref: str, prefix: str, input_ref: str) -> str:
    if ref == INPUT:
        return input_ref
    return f"{prefix}.{ref}" if prefix else ref


def _qualify(node: PrimNode, prefix: str, input_ref: str) -> PrimNode:
    if not prefix and input_ref == INPUT:
        return node
    return PrimNode(
        name=_qualify_ref(node.name, prefix, input_ref),
        op=node.op,
        params=node.params,
        inputs=tuple(_qualify_ref(i, prefix, input_ref) for i in node.inputs),
        in_shapes=node.in_shapes,
        out_shape=node.out_shape,
        macs=node.macs,
        num_params=node.num_params,
        file=node.file,
        line=node.line,
    )


@dataclass(frozen=True)
class Frame:
    """Where the expansion is: the qualified path and the outermost (user-facing) file and line."""

    path: str
    file: str | None
    line: int | None
    block: str | None = None

    def child(self, node_id: str) -> "Frame":
        return Frame(f"{self.path}.{node_id}" if self.path else node_id, self.file, self.line, self.block)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _shape_vars(shape: Shape) -> dict[str, Any]:
    names: dict[str, Any] = {"in_channels": shape[0], "in_shape": list(shape)}
    if len(shape) == 3:
        names["in_height"] = shape[1]
        names["in_width"] = shape[2]
    return names


class _Expander:
    """Holds the evaluator and library for one expansion run."""

    def __init__(self, library: BlockLibrary):
        self.library = library
        self.ev = library.evaluator
        self.block_stack: list[str] = []  # names of the block instances being expanded, outermost first

    # -- errors -------------------------------------------------------------------------------------------------
    def error(self, detail: str, node: NodeSpec | None, frame: Frame, key: str | None = None) -> SpecError:
        line = None
        if node is not None:
            line = node.param_lines.get(key, node.line) if key else node.line
        if frame.block is not None and node is not None and node.file != frame.file:
            detail = f"{detail} [in block '{frame.block}', {node.file}:{line}]"
            return SpecError(detail, file=frame.file, line=frame.line, node=frame.path)
        return SpecError(detail, file=node.file if node else frame.file, line=line or frame.line, node=frame.path)

    def evaluate(self, value: Any, names: dict[str, Any], node: NodeSpec, frame: Frame, key: str) -> Any:
        try:
            return self.ev.evaluate(value, names)
        except ExprError as exc:
            raise self.error(f"'{key}': {exc}", node, frame, key) from None

    # -- parameters ---------------------------------------------------------------------------------------------
    def check_params(
        self, decls: tuple[ParamDecl, ...] | dict[str, ParamDecl], raw: dict[str, Any], names: dict[str, Any],
        node: NodeSpec, frame: Frame, what: str,
    ) -> dict[str, Any]:
        by_name = decls if isinstance(decls, dict) else {d.name: d for d in decls}
        for key in raw:
            if key not in by_name:
                close = closest_names(str(key), list(by_name))
                hint = f"; did you mean '{close[0]}'?" if close else ""
                valid = ", ".join(by_name) or "none"
                raise self.error(f"unknown parameter '{key}' for {what}{hint} (valid: {valid})", node, frame, key)
        out: dict[str, Any] = {}
        for name, decl in by_name.items():
            if name in raw:
                value = self.evaluate(raw[name], names, node, frame, name)
            elif decl.required:
                raise self.error(f"missing required parameter '{name}' of {what}", node, frame)
            elif decl.checked_default is not _UNCHECKED:
                out[name] = decl.checked_default
                continue
            else:
                value = decl.default
            try:
                out[name] = decl.check(value)  # null too: a required parameter given null is refused here
            except ParamError as exc:
                raise self.error(f"{what}: {exc}", node, frame, name if name in raw else None) from None
        return out

    # -- scopes -------------------------------------------------------------------------------------------------
    def order(self, nodes: tuple[NodeSpec, ...], frame: Frame) -> list[tuple[NodeSpec, tuple[str, ...]]]:
        """Resolve default inputs, check ids and references, and return the nodes in dependency order."""
        seen: dict[str, NodeSpec] = {}
        wired: list[tuple[NodeSpec, tuple[str, ...]]] = []
        previous = INPUT
        for node in nodes:
            if node.id in seen:
                raise self.error(
                    f"duplicate id '{node.id}' (first defined at line {seen[node.id].line}); ids must be unique "
                    f"within a scope",
                    node,
                    frame.child(node.id),
                )
            seen[node.id] = node
            wired.append((node, node.inputs if node.inputs is not None else (previous,)))
            previous = node.id
        position = {node.id: i for i, node in enumerate(nodes)}
        forward = False
        for node, inputs in wired:
            for ref in inputs:
                if ref == INPUT:
                    continue
                if ref not in seen:
                    close = closest_names(ref, list(seen))
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise self.error(
                        f"input '{ref}' is not a node of this scope{hint} (ids here: {', '.join(['input', *seen])})",
                        node,
                        frame.child(node.id),
                        "inputs",
                    )
                if position[ref] >= position[node.id]:
                    forward = True
        if not forward:
            return wired
        graph = nx.DiGraph()
        graph.add_nodes_from(n.id for n in nodes)
        graph.add_edges_from((ref, node.id) for node, inputs in wired for ref in inputs if ref != INPUT)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
            first = seen[cycle[0][0]]
            raise self.error(f"cycle in the graph: {path}; a node cannot depend on its own output", first, frame.child(first.id))
        by_id = {node.id: (node, inputs) for node, inputs in wired}
        return [by_id[i] for i in nx.lexicographical_topological_sort(graph, key=lambda i: position[i])]

    def expand_scope(
        self, nodes: tuple[NodeSpec, ...], output: str | None, in_shape: Shape, names: dict[str, Any], frame: Frame,
        owner: NodeSpec | None = None, aux_outputs: tuple[str, ...] = (),
    ) -> Expansion:
        env: dict[str, tuple[str, Shape]] = {INPUT: (INPUT, in_shape)}
        skipped: set[str] = set()
        items: list[PrimNode | Sub] = []
        totals = [0, 0, 0]
        for node, inputs in self.order(nodes, frame):
            node_frame = frame.child(node.id)
            refs = [env[ref] for ref in inputs]
            if node.when is not None:
                enabled = self.evaluate(node.when, names, node, node_frame, "when")
                if not isinstance(enabled, bool):
                    raise self.error(f"'when' must be true or false, found {enabled!r}", node, node_frame, "when")
                if not enabled:
                    if len(refs) != 1:
                        raise self.error("a node skipped by 'when' must have exactly one input", node, node_frame)
                    env[node.id] = refs[0]
                    skipped.add(node.id)
                    continue
            out_ref, out_shape = self.expand_node(node, refs, names, node_frame, items, totals)
            env[node.id] = (out_ref, out_shape)
        out_id = output if output is not None else nodes[-1].id
        if out_id not in env:
            raise self.error(
                f"output '{out_id}' is not a node of this scope (ids: {', '.join(n.id for n in nodes)})", owner, frame
            )
        out_ref, out_shape = env[out_id]
        aux_refs = []
        for aux_id in aux_outputs:
            if aux_id not in env:
                raise self.error(
                    f"aux output '{aux_id}' is not a top-level node (ids: {', '.join(n.id for n in nodes)})", owner, frame
                )
            if aux_id not in skipped:  # an aux head switched off with `when: false` is simply absent
                aux_refs.append(env[aux_id][0])
        return Expansion(tuple(items), out_ref, out_shape, totals[0], totals[1], totals[2], tuple(aux_refs))

    def expand_node(
        self, node: NodeSpec, refs: list[tuple[str, Shape]], names: dict[str, Any], frame: Frame,
        items: list, totals: list[int],
    ) -> tuple[str, Shape]:
        """Expand ``node`` (with its repetition) into ``items``; return its output reference and shape."""
        if node.repeat is None:
            return self.expand_single(node, node.id, refs, names, frame, items, totals)
        rep: RepeatSpec = node.repeat
        count = self.evaluate(rep.count, names, node, frame, "repeat")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise self.error(f"'repeat' count must be a non-negative integer, found {count!r}", node, frame, "repeat")
        if count > MAX_REPEAT:
            raise self.error(
                f"'repeat' count {count:,} is over the limit of {MAX_REPEAT:,} copies (a typo?)", node, frame, "repeat"
            )
        if len(refs) != 1:
            raise self.error("a repeated node must have exactly one input", node, frame)
        if rep.id_format is None:  # nested: a group of copies "0".."N-1"
            if count == 0:
                return refs[0]
            sub_items: list = []
            sub_totals = [0, 0, 0]
            ref, shape = INPUT, refs[0][1]
            for i in range(count):
                ref, shape = self.expand_single(
                    node, str(i), [(ref, shape)], {**names, "index": i}, frame.child(str(i)), sub_items, sub_totals
                )
            expansion = Expansion(tuple(sub_items), ref, shape, *sub_totals)
            if sub_items:
                items.append(Sub(node.id, f"{node_type_name(node)} x{count}", expansion, refs[0][0], refs[0][1]))
                _add(totals, sub_totals)
            if ref == INPUT:
                return refs[0]
            return f"{node.id}.{ref}", shape
        # flat copies in this scope
        outputs: list[tuple[str, Shape]] = []
        current = refs[0]
        concat = OPS.get("concat")
        for i in range(count):
            copy_id = rep.id_format.format(i=i, n=i + 1)
            copy_frame = Frame(frame.path.rsplit(".", 1)[0] + "." + copy_id if "." in frame.path else copy_id, frame.file, frame.line, frame.block)
            if rep.connect == "dense" and outputs:
                current = self.prim(concat, f"{copy_id}_in", {}, [refs[0], *outputs], node, copy_frame, items, totals)
            out = self.expand_single(node, copy_id, [current], {**names, "index": i}, copy_frame, items, totals)
            outputs.append(out)
            current = out
        if not outputs:
            return refs[0]
        if rep.connect == "dense":
            return self.prim(concat, node.id, {}, [refs[0], *outputs], node, frame, items, totals)
        return outputs[-1]

    def prim(
        self, op: Op, name: str, params: dict[str, Any], refs: list[tuple[str, Shape]], node: NodeSpec, frame: Frame,
        items: list, totals: list[int],
    ) -> tuple[str, Shape]:
        shapes = [shape for _, shape in refs]
        if len(refs) < op.min_inputs or (op.max_inputs is not None and len(refs) > op.max_inputs):
            want = f"{op.min_inputs}" if op.max_inputs == op.min_inputs else f"at least {op.min_inputs}"
            raise self.error(f"{op.name} takes {want} input(s), found {len(refs)}", node, frame, "inputs")
        try:
            out_shape = op.infer(params, shapes)
            macs = op.macs(params, shapes, out_shape)
            n_params = op.num_params(params, shapes)
        except OpError as exc:
            raise self.error(str(exc), node, frame) from None
        prim = PrimNode(name, op, params, tuple(r for r, _ in refs), tuple(shapes), out_shape, macs, n_params, node.file, node.line)
        items.append(prim)
        totals[0] += macs
        totals[1] += n_params
        totals[2] += prim.activations
        return name, out_shape

    def expand_single(
        self, node: NodeSpec, name: str, refs: list[tuple[str, Shape]], names: dict[str, Any], frame: Frame,
        items: list, totals: list[int],
    ) -> tuple[str, Shape]:
        node_type = node.type
        if is_expr(node_type):
            node_type = self.evaluate(node_type, names, node, frame, "type")
            if not isinstance(node_type, str):
                raise self.error(f"'type' must evaluate to an op or block name, found {node_type!r}", node, frame, "type")
        if node_type == "group":
            if len(refs) != 1:
                raise self.error("a group takes exactly one input", node, frame, "inputs")
            in_ref, in_shape = refs[0]
            group_names = {**names, **_shape_vars(in_shape)}
            expansion = self.expand_scope(node.nodes, node.output, in_shape, group_names, frame, node)
            return self.place(name, "group", expansion, in_ref, in_shape, items, totals)
        if node_type in OPS:
            op = OPS.get(node_type)
            params = self.check_params(op.params, node.params, names, node, frame, f"op '{node_type}'")
            return self.prim(op, name, params, refs, node, frame, items, totals)
        if node_type in self.library:
            if len(refs) != 1:
                raise self.error(f"block '{node_type}' takes exactly one input, found {len(refs)}", node, frame, "inputs")
            block = self.library.get(node_type)
            in_ref, in_shape = refs[0]
            given = {k: self.evaluate(v, names, node, frame, k) for k, v in node.params.items()}
            cache = self.library.cache_for(block.name)
            key = (block.name, block.file, block.line, _freeze(given), in_shape)
            expansion = cache.get(key)  # the same given values were checked when this entry was made
            if expansion is None:
                params = self.check_params(block.params, given, names, node, frame, f"block '{node_type}'")
                expansion = self.expand_block(block, params, in_shape, node, frame)
                cache[key] = expansion
            return self.place(name, node_type, expansion, in_ref, in_shape, items, totals)
        valid = sorted([*OPS.names(), *self.library.blocks.names(), "group"])
        close = closest_names(node_type, valid)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise self.error(f"unknown type '{node_type}'{hint} (ops and blocks: {', '.join(valid)})", node, frame, None)

    def place(
        self, name: str, kind: str, expansion: Expansion, in_ref: str, in_shape: Shape, items: list, totals: list[int],
    ) -> tuple[str, Shape]:
        if expansion.output == INPUT and not expansion.items:
            return in_ref, in_shape
        items.append(Sub(name, kind, expansion, in_ref, in_shape))
        _add(totals, (expansion.macs, expansion.params, expansion.activations))
        out = in_ref if expansion.output == INPUT else f"{name}.{expansion.output}"
        return out, expansion.out_shape

    def expand_block(self, block: BlockDef, params: dict[str, Any], in_shape: Shape, node: NodeSpec, frame: Frame) -> Expansion:
        cache = self.library.cache_for(block.name)
        key = (block.name, block.file, block.line, _freeze(params), in_shape)
        hit = cache.get(key)
        if hit is not None:
            return hit
        names: dict[str, Any] = {**params, **_shape_vars(in_shape)}
        if frame.block is None:  # entering a block from the user's spec: remember the call site
            inner = Frame(frame.path, node.file, node.line, block.name)
        else:
            inner = Frame(frame.path, frame.file, frame.line, block.name)
        for let_name, let_value in block.let:
            try:
                names[let_name] = self.ev.evaluate(let_value, names)
            except ExprError as exc:
                raise SpecError(
                    f"block '{block.name}': 'let.{let_name}': {exc}", file=inner.file, line=inner.line, node=frame.path
                ) from None
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:  # a block that uses itself without a 'when' that ends it
            chain = " -> ".join([*self.block_stack[:4], "...", *self.block_stack[-2:], block.name])
            raise SpecError(
                f"block instances nest more than {MAX_BLOCK_DEPTH} deep ({chain}): a block that uses itself, directly "
                f"or through others, needs a 'when' that ends the recursion",
                file=inner.file, line=inner.line, node=frame.path,
            )
        self.block_stack.append(block.name)
        try:
            expansion = self.expand_scope(block.nodes, block.output, in_shape, names, inner)
        finally:
            self.block_stack.pop()
        cache[key] = expansion
        return expansion


def _add(totals: list[int], extra) -> None:
    totals[0] += extra[0]
    totals[1] += extra[1]
    totals[2] += extra[2]


def expand_nodes(
    nodes: tuple[NodeSpec, ...], output: str | None, input_shape: Shape, names: dict[str, Any], library: BlockLibrary,
    file: str | None, aux_outputs: tuple[str, ...] = (),
) -> Expansion:
    """Expand a top-level node list (a spec's body) on inputs of ``input_shape``.

    Raises:
        SpecError: any invalid id, reference, type, parameter or shape, located by file, line and node.
    """
    expander = _Expander(library)
    try:
        return expander.expand_scope(
            nodes, output, tuple(input_shape), {**names, **_shape_vars(tuple(input_shape))}, Frame("", file, None),
            aux_outputs=aux_outputs,
        )
    except RegistryError as exc:
        raise SpecError(str(exc), file=file) from None


def needed_nodes(expansion: Expansion, outputs: list[str]) -> list[PrimNode]:
    """The primitive nodes (qualified) that ``outputs`` depend on, in execution order."""
    nodes = list(expansion.flatten())
    by_name = {n.name: n for n in nodes}
    needed: set[str] = set()
    stack = [o for o in outputs if o in by_name]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(i for i in by_name[name].inputs if i in by_name and i not in needed)
    return [n for n in nodes if n.name in needed]


def node_type_name(node: NodeSpec) -> str:
    """The node's type as written (an expression type shows as written)."""
    return node.type
