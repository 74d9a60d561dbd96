"""Expand a spec into a graph of primitive ops with every shape, MAC and parameter count inferred.

Expansion walks each scope (the spec, a group, a block instance) in dependency order: it checks ids and
references (a networkx DAG finds cycles), evaluates ``${...}`` expressions, checks every parameter against its
declaration, infers each node's output shape with the op's shape rule and costs it with the op's cost rule.
Nothing is allocated and nothing runs. Block instances are memoised in a :class:`~nascomp.graph.block_cache.BlockCache`
by (block, parameters, input shape).

The result is an :class:`~nascomp.graph.expansion_tree.Expansion` (records in :mod:`nascomp.graph.expansion_tree`).
Each step returns what it adds to its scope (a :class:`~nascomp.graph.expansion_scope.Placed`): the items and the
reference of its output.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from nascomp.errors import RegistryError, SpecError
from nascomp.graph.block_cache import BLOCK_CACHE, BlockCache
from nascomp.graph.expansion_scope import Frame, Placed, Tensor, shape_vars
from nascomp.graph.expansion_tree import INPUT, Expansion, PrimNode, Sub, Totals, count_ops, needed_nodes, qualify
from nascomp.ops import OPS, Op, OpError, Shape
from nascomp.registry import did_you_mean
from nascomp.spec.expr import ExprError, is_expr
from nascomp.spec.library import BlockLibrary
from nascomp.spec.model import BlockDef, NodeSpec, RepeatSpec
from nascomp.spec.params import UNCHECKED, ParamDecl, ParamError

__all__ = ["INPUT", "PrimNode", "Sub", "Expansion", "Totals", "expand_nodes", "needed_nodes", "qualify",
           "MAX_OPS", "MAX_REPEAT", "MAX_BLOCK_DEPTH"]

MAX_REPEAT = 10_000  # copies of one repeated node; far above any real net, low enough to fail fast on a typo
MAX_BLOCK_DEPTH = 50  # nested block instances; deeper is a runaway recursion (Python's stack would overflow)
# Primitive ops in one net once every block and repeat is expanded (the largest zoo net, se_resnet152, has 815):
# repeats multiply through nested blocks, so each scope counts as it goes and stops at this many, before building.
MAX_OPS = 100_000



class _Expander:
    """Holds the evaluator and library for one expansion run."""

    def __init__(self, library: BlockLibrary, cache: BlockCache):
        self.library = library
        self.cache = cache
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
                hint = did_you_mean(str(key), list(by_name))
                valid = ", ".join(by_name) or "none"
                raise self.error(f"unknown parameter '{key}' for {what}{hint} (valid: {valid})", node, frame, key)
        out: dict[str, Any] = {}
        for name, decl in by_name.items():
            if name in raw:
                value = self.evaluate(raw[name], names, node, frame, name)
            elif decl.required:
                raise self.error(f"missing required parameter '{name}' of {what}", node, frame)
            elif decl.checked_default is not UNCHECKED:
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
                    hint = did_you_mean(ref, list(seen))
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
        env: dict[str, Tensor] = {INPUT: Tensor(INPUT, in_shape)}
        skipped: set[str] = set()
        items: list[PrimNode | Sub] = []
        num_ops = 0
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
            placed = self.expand_node(node, refs, names, node_frame)
            items.extend(placed.items)
            num_ops += count_ops(placed.items)
            if num_ops > MAX_OPS:
                raise self.error(
                    f"the net has {num_ops:,} primitive ops once blocks and repeats are expanded, up to this node; "
                    f"over the limit of {MAX_OPS:,} (repeats multiply through nested blocks: check the 'repeat' "
                    f"counts)", node, node_frame,
                )
            env[node.id] = placed.out
        ids = ", ".join(n.id for n in nodes)
        out_id = output if output is not None else nodes[-1].id
        if out_id not in env:
            raise self.error(f"output '{out_id}' is not a node of this scope (ids: {ids})", owner, frame)
        aux_refs = []
        for aux_id in aux_outputs:
            if aux_id not in env:
                raise self.error(f"aux output '{aux_id}' is not a top-level node (ids: {ids})", owner, frame)
            if aux_id not in skipped:  # an aux head switched off with `when: false` is simply absent
                aux_refs.append(env[aux_id].ref)
        return Expansion.of(items, env[out_id].ref, env[out_id].shape, tuple(aux_refs))

    def repeat_count(self, rep: RepeatSpec, names: dict[str, Any], node: NodeSpec, frame: Frame) -> int:
        count = self.evaluate(rep.count, names, node, frame, "repeat")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise self.error(f"'repeat' count must be a non-negative integer, found {count!r}", node, frame, "repeat")
        if count > MAX_REPEAT:
            raise self.error(
                f"'repeat' count {count:,} is over the limit of {MAX_REPEAT:,} copies (a typo?)", node, frame, "repeat"
            )
        return count

    def check_repeat_ops(self, num_ops: int, i: int, count: int, node: NodeSpec, frame: Frame) -> None:
        """Stop a repetition as soon as its first ``i + 1`` copies hold more than :data:`MAX_OPS` primitive ops."""
        if num_ops > MAX_OPS:
            estimate = num_ops * count // (i + 1)
            raise self.error(
                f"'repeat' {count:,} copies of '{node.type}' make about {estimate:,} primitive ops ({num_ops:,} in the "
                f"first {i + 1:,}), over the limit of {MAX_OPS:,} per net; repeats multiply through nested blocks "
                f"(a typo?)", node, frame, "repeat",
            )

    def expand_node(self, node: NodeSpec, refs: list[Tensor], names: dict[str, Any], frame: Frame) -> Placed:
        """Expand ``node`` with its repetition."""
        if node.repeat is None:
            return self.expand_single(node, node.id, refs, names, frame)
        rep: RepeatSpec = node.repeat
        count = self.repeat_count(rep, names, node, frame)
        if len(refs) != 1:
            raise self.error("a repeated node must have exactly one input", node, frame)
        (source,) = refs
        if rep.id_format is None:  # nested: a group of copies "0".."N-1"
            sub_items: list[PrimNode | Sub] = []
            out = Tensor(INPUT, source.shape)
            num_ops = 0
            for i in range(count):
                placed = self.expand_single(node, str(i), [out], {**names, "index": i}, frame.child(str(i)))
                sub_items.extend(placed.items)
                num_ops += count_ops(placed.items)
                self.check_repeat_ops(num_ops, i, count, node, frame)
                out = placed.out
            if not sub_items:
                return Placed((), source if out.ref == INPUT else Tensor(f"{node.id}.{out.ref}", out.shape))
            expansion = Expansion.of(sub_items, out.ref, out.shape)
            sub = Sub(node.id, node_type_name(node), expansion, source.ref, source.shape, repeat=count)
            return Placed((sub,), source if out.ref == INPUT else Tensor(f"{node.id}.{out.ref}", out.shape))
        # flat copies in this scope
        items: list[PrimNode | Sub] = []
        outputs: list[Tensor] = []
        current = source
        concat = OPS.get("concat")
        num_ops = 0
        for i in range(count):
            copy_id = rep.id_format.format(i=i, n=i + 1)
            copy_frame = frame.sibling(copy_id)
            if rep.connect == "dense" and outputs:
                placed = self.prim(concat, f"{copy_id}_in", {}, [source, *outputs], node, copy_frame)
                items.extend(placed.items)
                num_ops += 1
                current = placed.out
            placed = self.expand_single(node, copy_id, [current], {**names, "index": i}, copy_frame)
            items.extend(placed.items)
            num_ops += count_ops(placed.items)
            self.check_repeat_ops(num_ops, i, count, node, frame)
            outputs.append(placed.out)
            current = placed.out
        if not outputs:
            return Placed((), source)
        if rep.connect == "dense":
            placed = self.prim(concat, node.id, {}, [source, *outputs], node, frame)
            return Placed((*items, *placed.items), placed.out)
        return Placed(tuple(items), outputs[-1])

    def prim(
        self, op: Op, name: str, params: dict[str, Any], refs: list[Tensor], node: NodeSpec, frame: Frame
    ) -> Placed:
        shapes = [t.shape for t in refs]
        if len(refs) < op.min_inputs or (op.max_inputs is not None and len(refs) > op.max_inputs):
            want = f"{op.min_inputs}" if op.max_inputs == op.min_inputs else f"at least {op.min_inputs}"
            raise self.error(f"{op.name} takes {want} input(s), found {len(refs)}", node, frame, "inputs")
        try:
            out_shape = op.infer(params, shapes)
            macs = op.macs(params, shapes, out_shape)
            n_params = op.num_params(params, shapes)
        except OpError as exc:
            raise self.error(str(exc), node, frame) from None
        prim = PrimNode(name, op, params, tuple(t.ref for t in refs), tuple(shapes), out_shape, macs, n_params, node.file, node.line)
        return Placed((prim,), Tensor(name, out_shape))

    def expand_single(self, node: NodeSpec, name: str, refs: list[Tensor], names: dict[str, Any], frame: Frame) -> Placed:
        node_type = node.type
        if is_expr(node_type):
            node_type = self.evaluate(node_type, names, node, frame, "type")
            if not isinstance(node_type, str):
                raise self.error(f"'type' must evaluate to an op or block name, found {node_type!r}", node, frame, "type")
        if node_type == "group":
            if len(refs) != 1:
                raise self.error("a group takes exactly one input", node, frame, "inputs")
            group_names = {**names, **shape_vars(refs[0].shape)}
            expansion = self.expand_scope(node.nodes, node.output, refs[0].shape, group_names, frame, node)
            return _place(name, "group", expansion, refs[0])
        if node_type in OPS:
            op = OPS.get(node_type)
            params = self.check_params(op.params, node.params, names, node, frame, f"op '{node_type}'")
            return self.prim(op, name, params, refs, node, frame)
        if node_type in self.library:
            if len(refs) != 1:
                raise self.error(f"block '{node_type}' takes exactly one input, found {len(refs)}", node, frame, "inputs")
            block = self.library.get(node_type)
            given = {k: self.evaluate(v, names, node, frame, k) for k, v in node.params.items()}
            expansion = self.cache.get(block, given, refs[0].shape)  # these given values were checked when it was made
            if expansion is None:
                params = self.check_params(block.params, given, names, node, frame, f"block '{node_type}'")
                expansion = self.expand_block(block, params, refs[0].shape, node, frame)
                self.cache.put(block, given, refs[0].shape, expansion)
            return _place(name, node_type, expansion, refs[0])
        valid = sorted([*OPS.names(), *self.library.blocks.names(), "group"])
        raise self.error(
            f"unknown type '{node_type}'{did_you_mean(node_type, valid)} (ops and blocks: {', '.join(valid)})",
            node, frame, None,
        )

    def expand_block(self, block: BlockDef, params: dict[str, Any], in_shape: Shape, node: NodeSpec, frame: Frame) -> Expansion:
        names: dict[str, Any] = {**params, **shape_vars(in_shape)}
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
            return self.expand_scope(block.nodes, block.output, in_shape, names, inner)
        finally:
            self.block_stack.pop()


def _place(name: str, kind: str, expansion: Expansion, source: Tensor) -> Placed:
    """Put a nested expansion under ``name`` (an empty identity scope adds nothing and passes its input on)."""
    if expansion.output == INPUT and not expansion.items:
        return Placed((), source)
    out = source.ref if expansion.output == INPUT else f"{name}.{expansion.output}"
    return Placed((Sub(name, kind, expansion, source.ref, source.shape),), Tensor(out, expansion.out_shape))


def expand_nodes(
    nodes: tuple[NodeSpec, ...], output: str | None, input_shape: Shape, names: dict[str, Any], library: BlockLibrary,
    file: str | None, aux_outputs: tuple[str, ...] = (), cache: BlockCache | None = None,
) -> Expansion:
    """Expand a top-level node list (a spec's body) on inputs of ``input_shape``.

    Args:
        cache: The memo of block instances; default the process-wide :data:`~nascomp.graph.block_cache.BLOCK_CACHE`.

    Raises:
        SpecError: any invalid id, reference, type, parameter or shape, located by file, line and node.
    """
    expander = _Expander(library, BLOCK_CACHE if cache is None else cache)
    try:
        return expander.expand_scope(
            nodes, output, tuple(input_shape), {**names, **shape_vars(tuple(input_shape))}, Frame("", file, None),
            aux_outputs=aux_outputs,
        )
    except RegistryError as exc:
        raise SpecError(str(exc), file=file) from None


def node_type_name(node: NodeSpec) -> str:
    """The node's type as written (an expression type shows as written)."""
    return node.type
