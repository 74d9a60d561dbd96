"""A search space's points as nets: ``SPACE[:POINT]`` names for :func:`nascomp.scale` and ``nascomp scale``.

The cost layer scales a spec file, YAML text, a zoo net or a spec mapping (:func:`nascomp.cost.scale.scale`); it
knows nothing of search spaces. This module, in the search layer that owns the spaces, adds one more kind of name:
``se_resnext:resnext50_32x4d`` (a named point of a built-in space) or ``se_resnext`` (the space's default
architecture), resolved to a spec mapping before the cost layer sees it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nascomp.cost.scale import ScaleResult
from nascomp.cost.scale import scale as scale_spec
from nascomp.errors import SearchError, UnknownNetError
from nascomp.search.space.search_space import SearchSpace, load_space, space_names
from nascomp.spec.load import SpecSource

__all__ = ["scale", "space_point", "resolve_space_net"]

_SPACE_REF = re.compile(r"^(?P<space>[A-Za-z_]\w*)(?::(?P<point>[A-Za-z_]\w*))?$")


def space_point(space: SearchSpace, point_name: str | None = None) -> dict[str, Any]:
    """The spec mapping of a search space's named point, or of its default architecture (``point_name=None``:
    the ``architecture:``'s own parameter values, e.g. ResNet-50 for ``se_resnext``), at the space's input shape.

    Raises:
        SearchError: ``point_name`` is not a point of the space (the message lists its points).
    """
    params = space.template.params
    if point_name is None:
        point, label, what = {name: params[name] for name in space.dimensions}, space.name, "default architecture"
    elif point_name in space.points:
        point, label, what = space.points[point_name], point_name, f"point '{point_name}'"
    else:
        raise SearchError(f"space '{space.name}' has no point '{point_name}' (its points: "
                          f"{', '.join(space.points) or 'none'}; or write '{space.name}' for its default architecture)")
    return space.export(point, name=label, doc=f"The {what} of search space '{space.name}'.\n{space.doc}",
                        input_shape=tuple(space.template.input_shape), num_classes=params.get("num_classes", 1000))


def resolve_space_net(net: SpecSource) -> tuple[dict[str, Any], Path | None] | None:
    """The spec mapping of ``net`` written ``SPACE[:POINT]`` and its space file, or ``None`` when ``net`` is not
    such a name (a zoo net or an existing file of the same spelling wins).

    Raises:
        SearchError: an unknown point of a known space (the message lists its points).
    """
    if not isinstance(net, str) or not (match := _SPACE_REF.match(net)) or Path(net).exists():
        return None
    from nascomp.zoo import zoo_registry

    if net in zoo_registry() or match["space"] not in space_names():
        return None
    space = load_space(match["space"])
    return space_point(space, match["point"]), space.source


def scale(net: SpecSource, budget: str | int | float, *, input_shape: tuple[int, int, int] | None = None,
          name: str | None = None, origin: str | os.PathLike | None = None, **overrides: Any) -> ScaleResult:
    """:func:`nascomp.cost.scale.scale` that also takes a search-space point (``se_resnext:resnext50_32x4d``) or
    a space's default architecture (``se_resnext``) for ``net``; see there for the method and the arguments.

    Raises:
        BudgetError: the budget does not parse or cannot be reached.
        SpecError: the net cannot be read (for an unknown name the message lists the zoo nets and the spaces).
        SearchError: an unknown point of a known space (the message lists its points).

    Example:
        >>> scale("se_resnext:resnext50_32x4d", "1GFLOPs", num_classes=10).macs
        974959072
    """
    resolved = resolve_space_net(net)
    if resolved is not None:
        net, origin = resolved
    try:
        return scale_spec(net, budget, input_shape=input_shape, name=name, origin=origin, **overrides)
    except UnknownNetError as exc:
        raise UnknownNetError(f"{exc}; or a search space point SPACE[:POINT] (spaces: {', '.join(space_names())})") \
            from None
