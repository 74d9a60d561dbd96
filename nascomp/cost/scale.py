"""Scale a canonical net to a compute budget: the baseline a searched net must beat at equal cost.

Method: compound scaling (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
arXiv:1905.11946, section 3.3) with the input resolution held fixed, because the data fixes it. Every width of the
spec is multiplied by one width multiplier ``w`` and rounded to a multiple of 8 (``make_divisible``: never below
8, never more than 10 % below the unrounded value); every repeat count by a depth multiplier ``d`` and rounded up
(EfficientNet's ``round_repeats``). Which fields are widths and depths: :mod:`nascomp.cost.scale_fields`.

Deviations from the paper, all because the budget is a hard limit and the resolution is fixed:

1. Width alone first: ``d = 1`` and the largest ``w`` in [floor, 2] (16 for a net without repeat counts) whose
   exact MACs fit the budget. (The paper scales the three together; with resolution fixed, width alone keeps the
   net closest to the original when it suffices.)
2. Where width alone cannot reach the budget (``w`` above 2, or every width already at its floor of 8 channels),
   depth and width move together along the paper's compound path ``d = alpha ** phi``, ``w = beta ** phi``
   (alpha = 1.2, beta = 1.1, its grid-searched constants; gamma, the resolution, is dropped), taking the largest
   ``phi`` (negative when shrinking) that fits; then ``w`` is raised at that depth to fill the budget.
3. When the rounding of the widths (steps of 8 channels; DenseNet's growth rate moves the whole net) leaves the
   net below 95 % of the budget, the depth multiplier is then raised at that width to fill it.
4. Each step is a bisection over the multiplier on the exact analytic MACs (:func:`nascomp.profile`, about
   1-4 ms per net), which are non-decreasing in ``w``, ``d`` and ``phi``; the result is the largest rounded net
   of the path whose MACs are at most the budget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nascomp.cost.budget import format_macs, parse_budget
from nascomp.cost.profile import profile
from nascomp.cost.scale_fields import ScaleField, apply_multipliers, find_fields, localize_blocks
from nascomp.errors import BudgetError, SpecError
from nascomp.spec.load import SpecSource, load_spec
from nascomp.spec.write import plain, spec_mapping, spec_yaml

__all__ = ["scale", "ScaleResult", "resolve_net", "ALPHA", "BETA", "WIDTH_MAX", "NEAR"]

#: EfficientNet's depth and width bases (arXiv:1905.11946, section 3.3: alpha = 1.2, beta = 1.1).
ALPHA = 1.2
BETA = 1.1
#: Largest width multiplier tried before depth is scaled too (EfficientNet-B7's width coefficient).
WIDTH_MAX = 2.0
#: Largest width multiplier of a net without repeat counts (VGG, GoogLeNet): width is all it has.
WIDTH_MAX_NO_DEPTH = 16.0
#: When width's rounding leaves the net below this share of the budget, depth fills the rest (at fixed width).
NEAR = 0.95
_WIDTH_MIN = 1e-3  # every width at its floor
_PHI_RANGE = (-40.0, 20.0)
_STEPS = 40


@dataclass(frozen=True)
class ScaleResult:
    """A net scaled to a budget.

    Attributes:
        spec: The scaled spec as a plain mapping (``nascomp.build(result.spec)`` builds it; :meth:`to_yaml`).
        width_multiplier: ``w``: every scaled width is ``make_divisible(width * w, 8)``.
        depth_multiplier: ``d``: every scaled repeat count is ``ceil(count * d)``.
        macs: Exact MACs of the scaled net at its input shape (conv and linear; FlopCounterMode FLOPs / 2).
        params: Its parameter count.
        budget_macs: The budget, in MACs.
        base_macs: MACs of the unscaled net at the same input shape and number of classes.
        fields: The scaled fields.
    """

    spec: dict[str, Any]
    width_multiplier: float
    depth_multiplier: float
    macs: int
    params: int
    budget_macs: int
    base_macs: int
    fields: tuple[ScaleField, ...]

    def to_yaml(self) -> str:
        """The scaled spec as YAML text (one node per line, the doc as a literal block)."""
        return spec_yaml(self.spec)


def resolve_net(net: SpecSource) -> tuple[dict[str, Any], Path | None, str]:
    """The spec mapping of ``net``, the file it came from and a label for messages.

    Args:
        net: A :class:`Spec`, a spec mapping, a zoo name, a spec file or YAML text (search-space points are
            resolved a layer up, by :func:`nascomp.search.space.points.scale`).

    Raises:
        SpecError: the net cannot be read; :class:`~nascomp.errors.UnknownNetError` for a name that is neither a
            zoo net nor a file (the message lists the zoo nets).
    """
    if isinstance(net, dict):
        return plain(net), None, str(net.get("name", "spec"))
    spec = load_spec(net)
    raw = plain(spec.raw)  # a Spec's overrides live in its fields, not in raw
    if spec.params:
        raw["params"] = {**(raw.get("params") or {}), **plain(dict(spec.params))}
    raw["input_shape"] = list(spec.input_shape)
    return raw, spec.source, spec.name


def _with_overrides(raw: dict, origin: Path | None, overrides: dict[str, Any]) -> dict:
    """``raw`` with spec-param / ``input_shape`` overrides applied (checked by load_spec first), reference
    figures dropped (they describe the unscaled net) and ``imports`` made absolute (the result is written
    elsewhere): :func:`nascomp.spec.write.spec_mapping`."""
    load_spec(raw, origin=origin, **overrides)  # raises SpecError on an unknown param or a bad shape
    shape = overrides.get("input_shape")
    params = {k: v for k, v in overrides.items() if k != "input_shape"}
    return spec_mapping(raw, origin=origin, input_shape=[int(v) for v in shape] if shape is not None else None,
                        params=params)


def _largest_fitting(macs_at: Callable[[float], int], low: float, high: float, budget: int) -> float:
    """The largest t in [low, high] with macs_at(t) <= budget, given macs_at(low) <= budget and macs_at
    non-decreasing (bisection; the rounding makes macs_at a step function, so the result is the start of the
    last fitting step's neighbourhood, within (high - low) / 2**40)."""
    if macs_at(high) <= budget:
        return high
    for _ in range(_STEPS):
        mid = (low + high) / 2
        if macs_at(mid) <= budget:
            low = mid
        else:
            high = mid
    return low


def scale(net: SpecSource, budget: str | int | float, *, input_shape: tuple[int, int, int] | None = None,
          name: str | None = None, origin: str | os.PathLike | None = None, **overrides: Any) -> ScaleResult:
    """Scale ``net`` so that its exact MACs are at most ``budget`` and as close to it as the rounding allows.

    Compound scaling after EfficientNet (arXiv:1905.11946) with the resolution held fixed; see the module doc
    for the method and its deviations, and :mod:`nascomp.cost.scale_fields` for which fields are scaled.

    Args:
        net: A zoo name, spec file, YAML text, :class:`Spec` or spec mapping. (:func:`nascomp.scale`, a layer up
            in :mod:`nascomp.search.space.points`, also takes a search-space point: ``se_resnext`` for the
            space's default architecture, ``se_resnext:resnext50_32x4d`` for a named point.)
        budget: MACs (``"1GFLOPs"`` = ``"1GMACs"`` = 1e9; FLOPs counted as MACs, the field's convention).
        input_shape: ``(C, H, W)`` to scale at, instead of the spec's (the data fixes it).
        name: Name of the scaled spec (default ``<net>_scaled``).
        origin: For a mapping ``net``: the file it came from (its ``imports`` resolve relative to it).
        **overrides: Spec parameters, e.g. ``num_classes=10``.

    Returns:
        A :class:`ScaleResult`: the spec mapping, ``w``, ``d``, its MACs and params.

    Raises:
        BudgetError: the budget does not parse, or lies below the smallest net the scaling reaches (every width at
            its floor, every repeat count 1) or above the largest (phi = 20).
        SpecError: the net cannot be read, or has no width or depth field to scale.

    Example:
        >>> result = scale("resnet50", "1GFLOPs")
        >>> result.macs, result.depth_multiplier
        (996957376, 1.0)
    """
    budget_macs = parse_budget(budget)
    raw, source, label = resolve_net(net)
    origin = Path(origin) if origin is not None and isinstance(net, dict) else source
    if input_shape is not None:
        overrides["input_shape"] = tuple(input_shape)
    raw = _with_overrides(raw, origin, overrides)
    raw, aliases = localize_blocks(raw, load_spec(raw, origin=origin).library)
    fields = find_fields(raw, aliases)
    if not fields:
        raise SpecError(f"'{label}' has nothing to scale: no integer width (out_channels, planes, growth_rate, "
                        "hidden out_features, ...) or repeat count in its nodes or params")
    cache: dict[tuple, tuple[int, int]] = {}

    def cost(width: float, depth: float) -> tuple[int, int]:
        key = tuple(f.value(width, depth) for f in fields)
        if key not in cache:
            try:
                prof = profile(load_spec(apply_multipliers(raw, fields, width, depth), origin=origin))
            except SpecError as exc:
                raise SpecError(f"'{label}' at width x{width:.3f}, depth x{depth:.3f} is not a valid net, so it "
                                f"cannot be scaled this way: {exc}") from None
            cache[key] = (prof.macs, prof.params)
        return cache[key]

    base_macs = cost(1.0, 1.0)[0]
    width, depth = _solve(lambda w, d: cost(w, d)[0], any(f.kind == "depth" for f in fields), budget_macs, label)
    macs, params = cost(width, depth)
    mapping = apply_multipliers(raw, fields, width, depth)
    mapping["name"] = name or f"{raw.get('name', label)}_scaled"
    mapping["doc"] = _doc(raw, label, fields, width, depth, macs, params, budget_macs, base_macs)
    spec = load_spec(mapping, origin=origin)
    check = profile(spec)
    assert (check.macs, check.params) == (macs, params), "scaled spec does not profile to the solved cost"
    mapping = {"name": mapping["name"], "doc": mapping["doc"],
               **{k: v for k, v in mapping.items() if k not in ("name", "doc")}}
    return ScaleResult(mapping, width, depth, macs, params, budget_macs, base_macs, tuple(fields))


def _solve(macs_at: Callable[[float, float], int], has_depth: bool, budget_macs: int, label: str) -> tuple[float, float]:
    """The (width, depth) multipliers of the largest net on the scaling path (module doc) within the budget."""
    width_max = WIDTH_MAX if has_depth else WIDTH_MAX_NO_DEPTH
    floor_macs, top_macs = macs_at(_WIDTH_MIN, 1.0), macs_at(width_max, 1.0)
    if not has_depth and budget_macs > top_macs:
        raise BudgetError(f"budget {format_macs(budget_macs)} is above the largest '{label}' this scaling reaches "
                          f"({format_macs(top_macs)} at width x{width_max:g}; it has no repeat count to deepen); "
                          "choose a smaller budget")
    if not has_depth and budget_macs < floor_macs:
        raise _too_small(label, budget_macs, floor_macs, "every width at its floor of 8 channels")
    if floor_macs <= budget_macs <= top_macs:
        depth = 1.0
        width = _largest_fitting(lambda w: macs_at(w, 1.0), _WIDTH_MIN, width_max, budget_macs)
    else:
        path = lambda phi: macs_at(BETA ** phi, ALPHA ** phi)  # noqa: E731
        low, high = (0.0, _PHI_RANGE[1]) if budget_macs > top_macs else (_PHI_RANGE[0], 0.0)
        if path(low) > budget_macs:
            raise _too_small(label, budget_macs, path(low), "every width at its floor of 8 channels, every repeat 1")
        if path(high) <= budget_macs and high > 0:
            raise BudgetError(f"budget {format_macs(budget_macs)} is above the largest '{label}' this scaling "
                              f"reaches ({format_macs(path(high))} at phi = {high:g}); choose a smaller budget")
        phi = _largest_fitting(path, low, high, budget_macs)
        depth = ALPHA ** phi
        width = _largest_fitting(lambda w: macs_at(w, depth), BETA ** phi, max(width_max, BETA ** (phi + 1)),
                                 budget_macs)
    if has_depth and macs_at(width, depth) < NEAR * budget_macs:
        depth = _largest_fitting(lambda d: macs_at(width, d), depth, depth * 4, budget_macs)
    return width, depth


def _too_small(label: str, budget_macs: int, smallest: int, how: str) -> BudgetError:
    return BudgetError(f"budget {format_macs(budget_macs)} is below the smallest '{label}' this scaling reaches "
                       f"({format_macs(smallest)}: {how}); choose at least {format_macs(smallest)} or a smaller net")


def _doc(raw: dict, label: str, fields: list[ScaleField], width: float, depth: float, macs: int, params: int,
         budget_macs: int, base_macs: int) -> str:
    shape = "x".join(str(s) for s in raw.get("input_shape", ()))
    origin_doc = str(raw.get("doc") or "").strip().splitlines()
    widths = ", ".join(f.where for f in fields if f.kind == "width") or "none"
    depths = ", ".join(f.where for f in fields if f.kind == "depth") or "none"
    return "\n".join([
        f"{label} scaled to a budget of {format_macs(budget_macs)} (MACs = FlopCounterMode FLOPs / 2, what papers "
        "call FLOPs).",
        f"Width multiplier w = {width:.4f}, depth multiplier d = {depth:.4f}; at input {shape}: {params:,} params, "
        f"{macs:,} MACs ({macs / budget_macs:.1%} of the budget; unscaled: {base_macs:,} MACs).",
        "Method: compound scaling (Tan & Le, \"EfficientNet: Rethinking Model Scaling for Convolutional Neural "
        "Networks\", arXiv:1905.11946) with the resolution held fixed: widths make_divisible(width * w, 8) (never "
        "below 8, never more than 10 % below width * w; grouped convs round to a multiple of their groups), "
        "repeat counts ceil(count * d).",
        "Deviations: resolution fixed (gamma dropped); width alone (d = 1, w <= 2) while it can reach the budget; "
        f"beyond it d = {ALPHA} ** phi, w = {BETA} ** phi (the paper's alpha, beta) with the largest phi that fits, "
        "then w raised at that depth to fill the budget; where the rounding of widths leaves the net below "
        f"{NEAR:.0%} of the budget, d is raised at that width to fill it. Library blocks with fixed widths are "
        "copied into this spec as NAME_scaled; derived expressions follow as written; the classifier keeps "
        "num_classes.",
        f"Scaled widths: {widths}.",
        f"Scaled depths: {depths}.",
        f"Unscaled net: {origin_doc[0] if origin_doc else label}",
    ])
