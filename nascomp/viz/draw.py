"""Draw a spec as a Graphviz picture: one box per node, output shapes on the edges, MACs and params in the boxes.

The picture is drawn from the spec's :class:`~nascomp.cost.profile.Profile` (nothing is built or run), top to
bottom as the papers draw nets: a residual block's shortcut runs beside its main path into a ``+``, the branches of
an Inception block sit side by side, left to right in the order the spec lists them, above their ``concat``.

By default every top-level node of the spec is one box (a block instance, a group or a repetition is collapsed,
with its total cost); ``depth`` opens nested scopes as labelled clusters, and ``depth=None`` opens everything
down to primitive ops (``nascomp draw --expand``).

Rendering uses the ``graphviz`` Python package (which writes DOT text) and the ``dot`` program of the Graphviz
system package; DOT output (``.dot``/``.gv``) needs no system package.
"""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

from nascomp._atomic import write_atomic
from nascomp._shape import format_shape
from nascomp.cost.budget import format_macs
from nascomp.cost.profile import Profile, profile
from nascomp.errors import NascompError
from nascomp.graph.expansion_tree import INPUT, Expansion, PrimNode, Sub, qualify
from nascomp.spec.load import SpecSource

__all__ = ["to_graph", "draw", "FORMATS", "INPUT_NODE", "OUTPUT_NODE", "dot_available", "INSTALL_HINT"]

# Output formats by file suffix: DOT text is written directly; the others are rendered by the `dot` program.
FORMATS: dict[str, str] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

# DOT ids of the two terminals. A spec id cannot contain ".", so these never collide with a node.
INPUT_NODE = ".input"
OUTPUT_NODE = ".output"

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`; "
    "conda: `conda install graphviz`), or write DOT text with `-o net.dot`"
)

_FONT = "Helvetica"
_FILL = {  # op families, colours in the spirit of the papers' figures
    "conv": "#cfe2f3",
    "linear": "#d9d2e9",
    "norm": "#fce5cd",
    "act": "#d9ead3",
    "pool": "#fff2cc",
    "merge": "#eeeeee",
    "other": "#ffffff",
    "block": "#c9daf8",
    "group": "#e6e6e6",
}
_ACTIVATIONS = {"relu", "relu6", "sigmoid", "silu", "gelu", "tanh", "hardsigmoid", "hardswish"}


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on ``PATH`` (needed for SVG, PNG and PDF, not for DOT text)."""
    return shutil.which("dot") is not None


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise NascompError(
            "drawing needs the 'graphviz' Python package: pip install graphviz (or pip install 'nascomp[export]')"
        ) from None
    return graphviz


# -- labels -----------------------------------------------------------------------------------------------------
def _fmt_shape(shape: tuple[int, ...]) -> str:
    return format_shape(shape, sep="×")


def _fmt_params(n: int) -> str:
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {prefix} params"
    return f"{n} params"


def _cost_line(macs: int, params: int) -> str:
    if not macs and not params:
        return ""
    return f"{format_macs(macs)} · {_fmt_params(params)}"


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)):
        return (value[0], value[1]) if len(value) == 2 else (value[0], value[0])
    return value, value


def _kernel(value: Any) -> str:
    kh, kw = _pair(value)
    return f"{kh}×{kw}"


def _stride(value: Any) -> str:
    sh, sw = _pair(value)
    if sh == sw:
        return f", /{sh}" if sh != 1 else ""
    return f", /{sh}×{sw}"


def _describe(node: PrimNode) -> str:
    """The op as the papers write it: ``3×3 conv, 64, /2``; ``fc, 1000``; ``3×3 max pool, /2``."""
    op, p = node.op.name, node.params
    if op == "conv2d":
        text = f"{_kernel(p['kernel_size'])} conv, {p['out_channels']}{_stride(p.get('stride', 1))}"
        groups = p.get("groups", 1)
        if groups and groups != 1:
            text += ", dw" if groups == node.in_shapes[0][0] == p["out_channels"] else f", g={groups}"
        return text
    if op == "linear":
        return f"fc, {p['out_features']}"
    if op in ("max_pool2d", "avg_pool2d"):
        stride = p.get("stride")
        return f"{_kernel(p['kernel_size'])} {op[:3]} pool{_stride(stride if stride is not None else p['kernel_size'])}"
    if op in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        return f"adaptive {op.split('_')[1]} pool → {_kernel(p['output_size'])}"
    if op == "global_pool":
        return f"global {p.get('mode', 'avg')} pool"
    if op == "dropout":
        return f"dropout, p={p.get('p', 0.5)}"
    return op


def _family(op: str) -> str:
    if op == "conv2d":
        return "conv"
    if op == "linear":
        return "linear"
    if op.startswith("batch_norm") or op.endswith("_norm"):
        return "norm"
    if op in _ACTIVATIONS:
        return "act"
    if "pool" in op:
        return "pool"
    if op in ("add", "mul", "concat"):
        return "merge"
    return "other"


def _html(title: str, lines: list[str]) -> str:
    parts = [f"<B>{html.escape(title)}</B>"]
    parts += [f'<FONT POINT-SIZE="9">{html.escape(line)}</FONT>' for line in lines if line]
    return "<" + "<BR/>".join(parts) + ">"


def _kind_text(sub: Sub) -> str:
    """``bottleneck``, or ``bottleneck ×3`` for a repetition (the block and the count)."""
    return sub.kind if sub.repeat is None else f"{sub.kind} ×{sub.repeat}"


# -- graph ------------------------------------------------------------------------------------------------------
class _Drawer:
    def __init__(self, graphviz_module, prof: Profile, depth: int | None):
        self.gv = graphviz_module
        self.prof = prof
        self.depth = depth
        self.producer: dict[str, str] = {INPUT: INPUT_NODE}  # qualified tensor ref -> DOT node id
        self.shape: dict[str, tuple[int, ...]] = {INPUT: tuple(prof.input_shape)}
        self.edges: list[tuple[str, str, str]] = []

    def edge(self, src_ref: str, dst: str) -> None:
        # Edges go to the top-level graph at the end: an edge written inside a cluster would pull its source node
        # (the block's input, from outside) into that cluster.
        self.edges.append((self.producer[src_ref], dst, _fmt_shape(self.shape[src_ref])))

    def emit(self, graph, expansion: Expansion, prefix: str, input_ref: str, level: int) -> None:
        for item in expansion.items:
            if isinstance(item, PrimNode):
                self.prim(graph, item, prefix, input_ref)
                continue
            qualified = qualify(item.prefix, prefix, input_ref)
            sub_input = qualify(item.input, prefix, input_ref)
            if self.depth is None or level + 1 < self.depth:
                self.cluster(graph, item, qualified, sub_input, level)
            else:
                self.collapsed(graph, item, qualified, sub_input)

    def prim(self, graph, node: PrimNode, prefix: str, input_ref: str) -> None:
        name = qualify(node.name, prefix, input_ref)
        op = node.op.name
        attrs: dict[str, str] = {"tooltip": f"{name}: {op}"}
        if op in ("add", "mul"):
            attrs.update(shape="circle", label="+" if op == "add" else "×", fontsize="14", width="0.35",
                         fixedsize="true", style="filled", fillcolor=_FILL["merge"])
        else:
            lines = [_describe(node)]
            lines.append(_cost_line(node.macs, node.num_params))
            attrs.update(shape="box", style="filled", fillcolor=_FILL[_family(op)], label=_html(node.name, lines))
        if op in ("add", "mul", "concat"):
            attrs["ordering"] = "in"  # branches left to right in the order the spec lists the inputs
        graph.node(name, **attrs)
        for ref in node.inputs:
            self.edge(qualify(ref, prefix, input_ref), name)
        self.producer[name] = name
        self.shape[name] = tuple(node.out_shape)

    def collapsed(self, graph, sub: Sub, name: str, sub_input: str) -> None:
        e = sub.expansion
        family = "group" if sub.kind == "group" and sub.repeat is None else "block"
        label = _html(sub.prefix, [_kind_text(sub), _cost_line(e.macs, e.params)])
        graph.node(name, label=label, shape="box", style="rounded,filled", penwidth="1.6", fillcolor=_FILL[family],
                   tooltip=f"{name}: {sub.label}")
        self.edge(sub_input, name)
        out = e.qualified_output(name, sub_input)
        if out != sub_input:
            self.producer[out] = name
            self.shape[out] = tuple(e.out_shape)

    def cluster(self, graph, sub: Sub, name: str, sub_input: str, level: int) -> None:
        e = sub.expansion
        title = f"{sub.prefix}: {_kind_text(sub)}"
        cost = _cost_line(e.macs, e.params)
        with graph.subgraph(name=f"cluster_{name}") as cluster:
            cluster.attr(label=_html(title, [cost]), labeljust="l", style="rounded,dashed", color="#7f7f7f",
                         fontname=_FONT)
            self.emit(cluster, e, name, sub_input, level + 1)

    def build(self):
        prof = self.prof
        title = (
            f"{prof.name} @ {_fmt_shape(prof.input_shape)}: {format_macs(prof.macs)}, "
            f"{_fmt_params(prof.params)}"
        )
        graph = self.gv.Digraph(name=prof.name)
        graph.attr(rankdir="TB", label=title, labelloc="t", fontname=_FONT, fontsize="14", nodesep="0.3",
                   ranksep="0.35")
        graph.attr("node", fontname=_FONT, fontsize="10", margin="0.12,0.04")
        graph.attr("edge", fontname=_FONT, fontsize="8", color="#404040", arrowsize="0.6")
        terminal = dict(shape="box", style="rounded", color="#7f7f7f", fontcolor="#404040")
        graph.node(INPUT_NODE, label="input", **terminal)
        self.emit(graph, prof.expansion, "", INPUT, 0)
        graph.node(OUTPUT_NODE, label="output", **terminal)
        self.edge(prof.expansion.qualified_output(), OUTPUT_NODE)
        # Edges written out rather than through graph.edge(), which reads "a:b" as node a, port b; a spec id may
        # contain ":" (only "." is excluded).
        quote = self.gv.quoting.quote
        for src, dst, label in self.edges:
            graph.body.append(f"\t{quote(src)} -> {quote(dst)} [label={quote(label)}]\n")
        return graph


def to_graph(prof: Profile, *, depth: int | None = 1):
    """The picture of ``prof`` as a ``graphviz.Digraph`` (DOT text in ``.source``).

    Args:
        prof: The profile of a spec (:func:`nascomp.profile`).
        depth: Levels of nesting to show: 1 (default) draws one node per top-level node of the spec, blocks,
            groups and repetitions collapsed with their total cost; 2 opens them one level as clusters; ``None``
            opens everything down to primitive ops.

    Returns:
        A ``graphviz.Digraph`` with one node per drawn node, plus the terminals :data:`INPUT_NODE` and
        :data:`OUTPUT_NODE`; each edge is labelled with the shape (``C×H×W``, batch excluded) of its tensor.

    Raises:
        NascompError: the ``graphviz`` Python package is not installed.

    Example:
        >>> g = to_graph(nascomp.profile("resnet18"))
        >>> g.source.count("->") > 10
        True
    """
    if depth is not None and depth < 1:
        raise NascompError(f"depth must be 1 or more (or None for fully expanded), found {depth}")
    return _Drawer(_graphviz(), prof, depth).build()


def draw(
    source: SpecSource | Profile, path: str | os.PathLike, *, depth: int | None = 1,
    input_shape: tuple[int, int, int] | None = None, **overrides: Any,
) -> Path:
    """Draw a spec to ``path``; the format follows the suffix (``.svg``, ``.png``, ``.pdf``, ``.dot``/``.gv``).

    The file is written atomically (a failure leaves no partial file).

    Args:
        source: A spec file, zoo name, YAML text, :class:`~nascomp.spec.model.Spec`, or a ready :class:`Profile`.
        path: Output file.
        depth: See :func:`to_graph` (``None`` = expanded to primitive ops).
        input_shape: ``(C, H, W)`` to draw at instead of the spec's (changes the shapes and costs shown).
        **overrides: Spec ``params`` to override.

    Returns:
        The written path.

    Raises:
        NascompError: unknown suffix; ``dot`` missing for a rendered format (the message says how to install it);
            ``dot`` failed.
        SpecError: the spec is invalid.

    Example:
        >>> draw("resnet18", "resnet18.svg")
        PosixPath('resnet18.svg')
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NascompError(
            f"cannot tell the picture format of '{path.name}': use a suffix among {', '.join(FORMATS)}"
        )
    prof = source if isinstance(source, Profile) else profile(source, input_shape=input_shape, **overrides)
    graph = to_graph(prof, depth=depth)
    if fmt == "dot":
        return write_atomic(path, graph.source)
    gv = _graphviz()
    if not dot_available():
        raise NascompError(f"writing {path.suffix} needs Graphviz's `dot` program, not found on PATH: {INSTALL_HINT}")
    try:
        data = graph.pipe(format=fmt)
    except gv.ExecutableNotFound:
        raise NascompError(f"writing {path.suffix} needs Graphviz's `dot` program, not found on PATH: {INSTALL_HINT}") from None
    except gv.CalledProcessError as exc:
        stderr = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise NascompError(f"Graphviz `dot` failed on {prof.name}: {stderr[-1] if stderr else exc}") from None
    return write_atomic(path, data)
