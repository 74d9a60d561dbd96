"""Which numbers of a spec are widths and depths, and a copy of the spec with them multiplied.

The transform works on the spec's YAML mapping, so the scaled net is again a plain, readable spec. Scaled fields:

- **Widths** (rounded with ``make_divisible(v * w, divisor, round_limit=0.9)``: a multiple of ``divisor``, never
  below it, never more than 10 % below ``v * w``): ``out_channels`` of ``conv2d``, ``conv_bn_act``,
  ``transition`` and ``factorized_conv`` (also its ``mid_channels``); ``out_features`` of a hidden ``linear`` (never
  the classifier: the last ``linear`` of the net, nor any field that refers to ``num_classes``); ``planes`` of
  ``bottleneck`` and ``basic_block``; ``growth_rate`` of ``dense_block`` and ``dense_layer``; the branch widths of
  ``inception`` (``ch1x1`` ... ``pool_proj``); ``pool_features`` of ``inception_v3_a``; ``channels_7x7`` of
  ``inception_v3_c``; ``width_per_group`` of ``grouped_conv``; and ``out_channels``, ``planes``, ``growth_rate``,
  ``mid_channels``, ``hidden_channels`` of any other block (a spec's own blocks).
- **Depths** (rounded up, ``ceil(n * d)``, never below 1, as EfficientNet's ``round_repeats``): a node's
  ``repeat`` count and ``num_layers`` of ``dense_block``.

A field is scaled when it holds an integer, or exactly ``${name}`` of an integer spec parameter (then that parameter
is scaled once, so search-space points scale through their parameters and expressions built on them follow).
Any other expression is a derived value and is left as written. A library block whose body holds integer widths
(Inception v3's modules with their fixed branch widths) is first copied into the spec's own ``blocks:`` as
``NAME_scaled`` (:func:`localize_blocks`), so that those widths scale too; integers in the spec's own blocks are
fields as well.

Divisors keep grouped convolutions valid: a conv with ``groups`` g rounds to a multiple of lcm(8, g), and so does
the width feeding it (the nearest width node before it, through BN, activations and pooling); a
``bottleneck``'s ``planes`` (or those of any block with a ``width_per_group`` or ``base_width``) round to a multiple
of lcm(8, 64 / gcd(64, width_per_group)), so its grouped 3x3 conv (``floor(planes * width_per_group / 64) *
groups`` channels) scales exactly with ``planes``; any other block with ``groups`` g rounds to lcm(8, g).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path as PathLib
from typing import Any, Literal

from nascomp.spec.expr import make_divisible
from nascomp.spec.parse import read_yaml_file
from nascomp.spec.write import plain

__all__ = ["ScaleField", "find_fields", "localize_blocks", "apply_multipliers", "WIDTH_FIELDS", "GENERIC_WIDTH_FIELDS", "DEPTH_FIELDS", "WIDTH_DIVISOR"]

#: Base rounding of every width (channels are multiples of 8, as in MobileNet and EfficientNet).
WIDTH_DIVISOR = 8

#: Width fields by node type (explicit, see the module doc).
WIDTH_FIELDS: dict[str, tuple[str, ...]] = {
    "conv2d": ("out_channels",),
    "conv_bn_act": ("out_channels",),
    "transition": ("out_channels",),
    "factorized_conv": ("out_channels", "mid_channels"),
    "linear": ("out_features",),
    "bottleneck": ("planes",),
    "basic_block": ("planes",),
    "dense_block": ("growth_rate",),
    "dense_layer": ("growth_rate",),
    "inception": ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"),
    "inception_v3_a": ("pool_features",),
    "inception_v3_c": ("channels_7x7",),
    "grouped_conv": ("width_per_group",),
}

#: Width fields of any other node type (a spec's own blocks, e.g. the legacy SENet bottleneck).
GENERIC_WIDTH_FIELDS = ("out_channels", "planes", "growth_rate", "mid_channels", "hidden_channels")

#: Depth fields by node type, besides every node's ``repeat``.
DEPTH_FIELDS: dict[str, tuple[str, ...]] = {"dense_block": ("num_layers",)}

_PARAM_REF = re.compile(r"^\$\{\s*([A-Za-z_]\w*)\s*\}$")
_CLASSES = "num_classes"

FieldPath = tuple  # keys and indices from the spec mapping's root to a value


@dataclass(frozen=True)
class ScaleField:
    """One scaled number of a spec.

    Attributes:
        path: Keys and list indices from the spec mapping's root to the value (``("nodes", 4, "planes")`` or
            ``("params", "planes1")``).
        kind: ``"width"`` (channels) or ``"depth"`` (a repeat count).
        base: The value in the unscaled spec.
        divisor: Widths round to a multiple of this (depths: 1).
        where: Human-readable location (node id and field) for the scaled spec's doc.
    """

    path: FieldPath
    kind: Literal["width", "depth"]
    base: int
    divisor: int
    where: str

    def value(self, width: float, depth: float) -> int:
        """The field's value at width multiplier ``width`` and depth multiplier ``depth``."""
        if self.kind == "depth":
            return max(1, math.ceil(self.base * depth - 1e-9))
        return make_divisible(self.base * width, self.divisor, round_limit=0.9)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _resolve_int(value: Any, params: dict) -> int | None:
    if _is_int(value):
        return value
    match = _PARAM_REF.match(value) if isinstance(value, str) else None
    if match and _is_int(params.get(match[1])):
        return params[match[1]]
    return None


def _walk(nodes: Any, path: FieldPath, scope: str):
    """Yield (node mapping, its path, its dotted id) depth-first, groups included."""
    if not isinstance(nodes, list):
        return
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        node_id = f"{scope}{node.get('id', i)}"
        yield node, (*path, i), node_id
        yield from _walk(node.get("nodes"), (*path, i, "nodes"), f"{node_id}.")


#: Types that keep the channel count of their input (a grouped conv's input width is set by the node before them).
_CHANNEL_PRESERVING = frozenset({
    "batch_norm2d", "relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "hardswish", "identity", "max_pool2d",
    "avg_pool2d", "dropout", "squeeze_excite",
})


def _producer(scope: list, index: int) -> int | None:
    """Index in ``scope`` of the node that sets the input width of ``scope[index]``, through channel-preserving
    nodes; None when it is not a single node of the same scope (the spec input, a concat, a group...)."""
    node = scope[index]
    while True:
        inputs = node.get("inputs")
        if inputs is None:
            index -= 1
        else:
            ids = [inputs] if isinstance(inputs, str) else list(inputs)
            found = [i for i, n in enumerate(scope) if isinstance(n, dict) and len(ids) == 1 and n.get("id") == ids[0]]
            if not found:
                return None
            index = found[0]
        if index < 0 or not isinstance(scope[index], dict):
            return None
        node = scope[index]
        if node.get("type") in WIDTH_FIELDS:
            return index
        if node.get("type") not in _CHANNEL_PRESERVING:
            return None


def _input_divisors(nodes: Any, path: FieldPath, params: dict, out: dict[FieldPath, int]) -> dict[FieldPath, int]:
    """Path of a node -> the groups of a grouped conv it feeds: its width must be a multiple of them too."""
    if not isinstance(nodes, list):
        return out
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        if node.get("type") in ("conv2d", "conv_bn_act"):
            groups = _resolve_int(node.get("groups", 1), params)
            source = _producer(nodes, i) if groups and groups > 1 else None
            if source is not None:
                out[(*path, source)] = math.lcm(out.get((*path, source), 1), groups)  # type: ignore[arg-type]
        _input_divisors(node.get("nodes"), (*path, i, "nodes"), params, out)
    return out


def _divisor(node: dict, node_type: str, params: dict) -> int | None:
    """The rounding divisor of the node's widths, or None when its grouping cannot be read (left unscaled)."""
    if node_type == "grouped_conv":
        return 1  # out_channels = cardinality * width_per_group: groups stay valid for any width_per_group
    per_group_key = next((k for k in ("width_per_group", "base_width") if k in node), None)
    if node_type == "bottleneck" or per_group_key:  # width = floor(planes * per_group / 64) * groups
        per_group = _resolve_int(node.get(per_group_key or "width_per_group", 64), params)
        return None if per_group is None else math.lcm(WIDTH_DIVISOR, 64 // math.gcd(64, per_group))
    groups = _resolve_int(node.get("groups", 1), params)
    return None if groups is None else math.lcm(WIDTH_DIVISOR, groups)


def find_fields(raw: dict, aliases: dict[str, str] | None = None) -> list[ScaleField]:
    """The scalable widths and depths of a spec mapping (see the module doc for the rules).

    Args:
        raw: A spec mapping as read from YAML (``Spec.raw``), with ``params`` holding values. Bodies of its own
            ``blocks:`` are scanned too, for integer fields only (their ``${...}`` refer to block parameters); run
            :func:`localize_blocks` first to bring library blocks with fixed widths into the spec.
        aliases: Copied block name -> the library block's name (from :func:`localize_blocks`), so that the
            copies' fields are known.

    Returns:
        The fields, in node order; a spec parameter appears once even when several nodes use it. A parameter used
        both as a width and as a depth is left out (no single rounding fits both).
    """
    params = dict(raw.get("params") or {})
    literal: list[ScaleField] = []
    by_param: dict[str, list[tuple[str, int, str]]] = {}
    aliases = aliases or {}
    _scan(raw.get("nodes"), ("nodes",), "", params, literal, by_param, aliases)
    for name, block in (raw.get("blocks") or {}).items():
        if isinstance(block, dict):
            _scan(block.get("nodes"), ("blocks", name, "nodes"), f"{name}:", {}, literal, by_param, aliases)
    fields = literal
    for name, uses in by_param.items():
        kinds = {kind for kind, _, _ in uses}
        if len(kinds) != 1:
            continue
        divisor = math.lcm(*(d for _, d, _ in uses))
        where = f"params.{name} ({', '.join(w for _, _, w in uses)})"
        fields.append(ScaleField(("params", name), kinds.pop(), params[name], divisor, where))  # type: ignore[arg-type]
    return fields


def _scan(body: Any, root: FieldPath, scope: str, params: dict, literal: list[ScaleField],
          by_param: dict[str, list[tuple[str, int, str]]], aliases: dict[str, str]) -> None:
    """Collect the fields of one node list (a spec's nodes or a block body) into ``literal`` / ``by_param``."""
    nodes = list(_walk(body, root, scope))
    linears = [path for node, path, _ in nodes if node.get("type") == "linear"]
    classifier = linears[-1] if linears else None
    feeds = _input_divisors(body, root, params, {})

    def note(value: Any, path: FieldPath, kind: str, divisor: int, where: str) -> None:
        if _is_int(value) and value > 0:
            literal.append(ScaleField(path, kind, value, divisor, where))  # type: ignore[arg-type]
            return
        match = _PARAM_REF.match(value) if isinstance(value, str) else None
        if match and match[1] != _CLASSES and _is_int(params.get(match[1])) and params[match[1]] > 0:
            by_param.setdefault(match[1], []).append((kind, divisor, where))

    for node, path, node_id in nodes:
        node_type = node.get("type")
        if not isinstance(node_type, str):
            continue
        node_type = aliases.get(node_type, node_type)
        for key in WIDTH_FIELDS.get(node_type, GENERIC_WIDTH_FIELDS):
            if key not in node or (node_type == "linear" and path == classifier):
                continue
            divisor = _divisor(node, node_type, params)
            if divisor is not None:
                divisor = math.lcm(divisor, feeds.get(path, 1))
                note(node[key], (*path, key), "width", divisor, f"{node_id}.{key}")
        repeat = node.get("repeat")
        if isinstance(repeat, dict):
            note(repeat.get("count"), (*path, "repeat", "count"), "depth", 1, f"{node_id}.repeat")
        elif repeat is not None:
            note(repeat, (*path, "repeat"), "depth", 1, f"{node_id}.repeat")
        for key in DEPTH_FIELDS.get(node_type, ()):
            if key in node:
                note(node[key], (*path, key), "depth", 1, f"{node_id}.{key}")


def _types(body: Any) -> set[str]:
    return {n["type"] for n, _, _ in _walk(body, (), "") if isinstance(n.get("type"), str)}


def localize_blocks(raw: dict, library: Any, suffix: str = "_scaled") -> tuple[dict, dict[str, str]]:
    """Copy into the spec's own ``blocks:`` every library block whose body holds an integer width or repeat count
    (e.g. Inception v3's modules, with their fixed branch widths), as ``NAME_scaled``, and retype its uses; blocks
    that use a copied block are copied too. The result builds the same net; its copied widths are then fields.

    Args:
        raw: A spec mapping.
        library: The spec's block library (``Spec.library``), to find and read the blocks it uses.
        suffix: Appended to a copied block's name (a spec may not redefine a library block's name).

    Returns:
        The new mapping, and each copy's name -> the library block it copies.
    """
    out = plain(raw)
    local = dict(out.get("blocks") or {})
    bodies: dict[str, dict] = {}

    def body_of(name: str) -> dict | None:
        if name not in bodies:
            block = library.get(name) if name in library and name not in local else None
            if block is None or not block.file:
                return None
            bodies[name] = plain(read_yaml_file(PathLib(block.file))["blocks"][name])
        return bodies[name]

    seen: set[str] = set()
    todo = _types(out.get("nodes")) | {t for b in local.values() if isinstance(b, dict) for t in _types(b.get("nodes"))}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if (block := body_of(name)) is not None:
            todo |= _types(block.get("nodes"))
    copied = {name for name in bodies if find_fields({"nodes": bodies[name].get("nodes")}, {})}
    changed = True
    while changed:
        changed = False
        for name in set(bodies) - copied:
            if _types(bodies[name].get("nodes")) & copied:
                copied.add(name)
                changed = True
    if not copied:
        return out, {}
    renames = {name: f"{name}{suffix}" for name in copied}

    def retype(body: Any) -> None:
        for node, _, _ in _walk(body, (), ""):
            if node.get("type") in renames:
                node["type"] = renames[node["type"]]

    retype(out.get("nodes"))
    for block in local.values():
        if isinstance(block, dict):
            retype(block.get("nodes"))
    for name in sorted(copied):
        block = bodies[name]
        retype(block.get("nodes"))
        local[renames[name]] = block
    out["blocks"] = local
    return out, {new: old for old, new in renames.items()}


def apply_multipliers(raw: dict, fields: list[ScaleField], width: float, depth: float) -> dict:
    """A plain deep copy of ``raw`` with every field set to its value at (``width``, ``depth``)."""
    out = plain(raw)
    for field in fields:
        target = out
        for key in field.path[:-1]:
            target = target[key]
        target[field.path[-1]] = field.value(width, depth)
    return out
