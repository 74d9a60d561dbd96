"""Which numbers of a spec are widths and depths, and a copy of the spec with them multiplied.

The transform works on the spec's YAML mapping, so the scaled net is again a plain, readable spec. Scaled fields:

- **Widths** (rounded with ``make_divisible(v * w, divisor, round_limit=0.9)``: a multiple of ``divisor``, never
  below it, never more than 10 % below ``v * w``): ``out_channels`` of ``conv2d``, ``conv_bn_act``,
  ``transition`` and ``factorized_conv`` (also its ``mid_channels``); ``out_features`` of a hidden ``linear`` (never
  the classifier: the last ``linear`` of the net, nor any field that refers to ``num_classes``); ``planes`` of
  ``bottleneck`` and ``basic_block``; ``growth_rate`` of ``dense_block`` and ``dense_layer``; the branch widths of
  ``inception`` (``ch1x1`` ... ``pool_proj``); ``pool_features`` of ``inception_v3_a``; ``channels_7x7`` of
  ``inception_v3_c``; ``width_per_group`` of ``grouped_conv``.
- **Depths** (rounded up, ``ceil(n * d)``, never below 1, as EfficientNet's ``round_repeats``): a node's
  ``repeat`` count and ``num_layers`` of ``dense_block``.

A field is scaled when it holds an integer, or exactly ``${name}`` of an integer spec parameter (then that parameter
is scaled once, so search-space points scale through their parameters and expressions built on them follow).
Any other expression is a derived value and is left as written. Widths inside block bodies (e.g. the fixed branch
widths of Inception v3's modules) are not fields of the spec and stay as they are.

Divisors keep grouped convolutions valid: a conv with ``groups`` g rounds to a multiple of lcm(8, g), and so does
the width feeding it (the nearest width node before it, through BN, activations and pooling); a
``bottleneck``'s ``planes`` round to a multiple of lcm(8, 64 / gcd(64, width_per_group)), so its grouped 3x3 conv
(``floor(planes * width_per_group / 64) * groups`` channels) scales exactly with ``planes``.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from nascomp.spec.expr import make_divisible

__all__ = ["ScaleField", "find_fields", "apply_multipliers", "WIDTH_FIELDS", "DEPTH_FIELDS", "WIDTH_DIVISOR", "plain"]

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

#: Depth fields by node type, besides every node's ``repeat``.
DEPTH_FIELDS: dict[str, tuple[str, ...]] = {"dense_block": ("num_layers",)}

_PARAM_REF = re.compile(r"^\$\{\s*([A-Za-z_]\w*)\s*\}$")
_CLASSES = "num_classes"

Path = tuple  # keys and indices from the spec mapping's root to a value


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

    path: Path
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


def _walk(nodes: Any, path: Path, scope: str):
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


def _input_divisors(nodes: Any, path: Path, params: dict, out: dict[Path, int]) -> dict[Path, int]:
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


def _divisor(node: dict, node_type: str, key: str, params: dict) -> int | None:
    """The rounding divisor of ``node[key]``, or None when the node's grouping cannot be read (left unscaled)."""
    if node_type in ("conv2d", "conv_bn_act") and key == "out_channels":
        groups = _resolve_int(node.get("groups", 1), params)
        return None if groups is None else math.lcm(WIDTH_DIVISOR, groups)
    if node_type == "bottleneck":
        per_group = _resolve_int(node.get("width_per_group", 64), params)
        return None if per_group is None else math.lcm(WIDTH_DIVISOR, 64 // math.gcd(64, per_group))
    if node_type == "grouped_conv":
        return 1  # out_channels = cardinality * width_per_group: groups stay valid for any width_per_group
    return WIDTH_DIVISOR


def find_fields(raw: dict) -> list[ScaleField]:
    """The scalable widths and depths of a spec mapping (see the module doc for the rules).

    Args:
        raw: A spec mapping as read from YAML (``Spec.raw``), with ``params`` holding values.

    Returns:
        The fields, in node order; a spec parameter appears once even when several nodes use it. A parameter used
        both as a width and as a depth is left out (no single rounding fits both).
    """
    params = dict(raw.get("params") or {})
    nodes = list(_walk(raw.get("nodes"), ("nodes",), ""))
    linears = [path for node, path, _ in nodes if node.get("type") == "linear"]
    classifier = linears[-1] if linears else None
    feeds = _input_divisors(raw.get("nodes"), ("nodes",), params, {})
    literal: list[ScaleField] = []
    by_param: dict[str, list[tuple[str, int, str]]] = {}

    def note(value: Any, path: Path, kind: str, divisor: int, where: str) -> None:
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
        for key in WIDTH_FIELDS.get(node_type, ()):
            if key not in node or (node_type == "linear" and path == classifier):
                continue
            divisor = _divisor(node, node_type, key, params)
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

    fields = literal
    for name, uses in by_param.items():
        kinds = {kind for kind, _, _ in uses}
        if len(kinds) != 1:
            continue
        divisor = math.lcm(*(d for _, d, _ in uses))
        where = f"params.{name} ({', '.join(w for _, _, w in uses)})"
        fields.append(ScaleField(("params", name), kinds.pop(), params[name], divisor, where))  # type: ignore[arg-type]
    return fields


def plain(value: Any) -> Any:
    """Deep copy of YAML data into plain dicts and lists (``yaml.safe_dump`` refuses the line-tracking types)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return copy.copy(value)


def apply_multipliers(raw: dict, fields: list[ScaleField], width: float, depth: float) -> dict:
    """A plain deep copy of ``raw`` with every field set to its value at (``width``, ``depth``)."""
    out = plain(raw)
    for field in fields:
        target = out
        for key in field.path[:-1]:
            target = target[key]
        target[field.path[-1]] = field.value(width, depth)
    return out
