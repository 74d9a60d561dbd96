"""Search spaces: a parametric architecture spec plus the domain of each of its search parameters.

A space file (``search_spaces/<name>.yaml``) has four sections::

    name: se_resnext
    doc: |
      What the space holds, the paper, the named points.
    dimensions:                       # the search parameters: name -> domain
      depth1: {low: 1, high: 4}       # an int range (optional step)
      planes1: {choices: [32, 48, 64, 80, 96]}
      se1: {type: bool}               # same as {choices: [false, true]}
    points:                           # optional named points (complete or partial assignments)
      resnet50: {depth1: 3, planes1: 64, se1: false}
    architecture:                     # a spec (docs/spec-format.md) whose params include every dimension
      name: se_resnext
      input_shape: [3, 224, 224]
      params: {num_classes: 1000, depth1: 3, planes1: 64, se1: false}
      nodes:
        - {id: layer1, type: bottleneck, repeat: "${depth1}", planes: "${planes1}", se_reduction: "${16 if se1 else 0}"}

A point of the space is a mapping from every dimension to a value of its domain; :meth:`SearchSpace.export` turns it
into a plain spec (the architecture with those values as its ``params``), which ``nascomp build`` rebuilds with the
same parameters and MACs. Each dimension's domain is fixed per name, as Optuna requires within one study.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna

from nascomp._resources import find_library_file, library_names
from nascomp.cost.profile import Profile, profile
from nascomp.errors import SearchError, SpecError
from nascomp.registry import did_you_mean
from nascomp.spec.load import load_spec
from nascomp.spec.model import Spec
from nascomp.spec.parse import read_yaml_file
from nascomp.spec.write import spec_mapping

__all__ = ["Dimension", "IntRange", "Choice", "SearchSpace", "load_space", "space_names", "point_key"]

_SPACE_KEYS = ("name", "doc", "dimensions", "points", "architecture")


def point_key(point: Mapping[str, Any]) -> tuple:
    """A hashable, order-independent key of a point (for deduplication and memoization)."""
    return tuple(sorted(point.items()))


@dataclass(frozen=True)
class IntRange:
    """A search parameter over the integers ``low, low + step, ..., high`` (inclusive).

    Example:
        >>> IntRange("depth", 1, 7, step=2).values, IntRange("depth", 1, 7, step=2).describe()
        ([1, 3, 5, 7], '1..7 step 2')
    """

    name: str
    low: int
    high: int
    step: int = 1

    @property
    def values(self) -> list[int]:
        """Every value of the domain, in order."""
        return list(range(self.low, self.high + 1, self.step))

    @property
    def distribution(self) -> optuna.distributions.BaseDistribution:
        return optuna.distributions.IntDistribution(self.low, self.high, step=self.step)

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def suggest(self, trial: optuna.trial.BaseTrial) -> int:
        return trial.suggest_int(self.name, self.low, self.high, step=self.step)

    def describe(self) -> str:
        """The domain as study identities store it: ``1..4`` or ``1..7 step 2``."""
        return f"{self.low}..{self.high}" + (f" step {self.step}" if self.step != 1 else "")


@dataclass(frozen=True)
class Choice:
    """A categorical search parameter (a bool dimension is the choice ``(False, True)``).

    Example:
        >>> Choice("se", (False, True)).describe(), Choice("se", (False, True)).contains(0)
        ('{false, true}', False)
    """

    name: str
    choices: tuple

    @property
    def values(self) -> list:
        """Every value of the domain, in order."""
        return list(self.choices)

    @property
    def distribution(self) -> optuna.distributions.BaseDistribution:
        return optuna.distributions.CategoricalDistribution(self.choices)

    def contains(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        """The domain as study identities store it: ``{32, 48, 64}``, ``{false, true}``."""
        return "{" + ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices) + "}"


Dimension = IntRange | Choice  # one search parameter: an int range or a choice


def _check_point(space: str, dimensions: Mapping[str, Dimension], point: Mapping[str, Any], what: str) -> dict[str, Any]:
    unknown = [k for k in point if k not in dimensions]
    if unknown:
        raise SearchError(
            f"{what}: space '{space}' has no dimension '{unknown[0]}' (dimensions: {', '.join(dimensions)})"
        )
    for name, dim in dimensions.items():
        if name not in point:
            raise SearchError(f"{what}: no value for dimension '{name}' of space '{space}'")
        if not dim.contains(point[name]):
            raise SearchError(f"{what}: {name}={point[name]!r} is outside its domain {dim.describe()} in space '{space}'")
    return {name: point[name] for name in dimensions}


class _CostMemo:
    """The memo behind :meth:`SearchSpace.cost` (a cache, not state: a hit equals a recomputation)."""

    def __init__(self) -> None:
        self.profiles: dict[tuple, Profile] = {}


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """A loaded search space.

    Attributes:
        name: The space's name (its file stem in ``search_spaces/``).
        doc: Free text.
        dimensions: The search parameters, in file order.
        points: Named points, completed with the architecture's defaults.
        template: The parametric architecture spec.
        source: The file, or ``None`` for a space given as a mapping.
    """

    name: str
    doc: str
    dimensions: dict[str, Dimension]
    points: dict[str, dict[str, Any]]
    template: Spec
    source: Path | None = None
    _costs: _CostMemo = field(default_factory=_CostMemo, repr=False)

    # -- points -------------------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of distinct points."""
        return math.prod(len(d.values) for d in self.dimensions.values())

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The Optuna distribution of every dimension (fixed per name for the life of a study)."""
        return {name: d.distribution for name, d in self.dimensions.items()}

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample a point with an Optuna trial (``suggest_int`` / ``suggest_categorical`` per dimension)."""
        return {name: d.suggest(trial) for name, d in self.dimensions.items()}

    def random_point(self, rng) -> dict[str, Any]:
        """A uniformly random point; ``rng`` is a ``numpy.random.RandomState``."""
        return {name: (vals := d.values)[int(rng.randint(len(vals)))] for name, d in self.dimensions.items()}

    def check_point(self, point: Mapping[str, Any], what: str = "point") -> dict[str, Any]:
        """Return ``point`` as a plain dict after checking it assigns every dimension a value of its domain.

        Raises:
            SearchError: a missing or unknown dimension, or a value outside its domain.
        """
        return _check_point(self.name, self.dimensions, point, what)

    # -- architectures ------------------------------------------------------------------------------------------
    def spec(self, point: Mapping[str, Any], **overrides: Any) -> Spec:
        """The architecture at ``point``; ``overrides`` set other params (``num_classes``) or ``input_shape``."""
        return load_spec(self.template, **dict(point), **overrides)

    def cost(self, point: Mapping[str, Any], *, input_shape: tuple[int, int, int], num_classes: int) -> Profile:
        """Exact analytic cost of ``point`` (memoized): no weight is allocated.

        Raises:
            SpecError: the point yields an invalid architecture (e.g. a channel count that groups do not divide).
        """
        key = (point_key(point), tuple(input_shape), num_classes)
        hit = self._costs.profiles.get(key)
        if hit is None:
            hit = profile(self.spec(point, num_classes=num_classes), input_shape=tuple(input_shape))
            self._costs.profiles[key] = hit
        return hit

    def export(self, point: Mapping[str, Any], *, name: str, doc: str, input_shape: tuple[int, int, int],
               num_classes: int) -> dict[str, Any]:
        """A plain spec mapping of ``point``: the architecture with the point's values as its ``params``
        (written by :func:`nascomp.spec.write.spec_mapping`: ``imports`` absolute, ``reference`` dropped).

        ``nascomp build`` of the result gives the same module, parameters and MACs as :meth:`spec` of the point.
        """
        return spec_mapping(self.template.raw, origin=self.template.source, name=name, doc=doc,
                            input_shape=input_shape, params={**dict(point), "num_classes": num_classes})


def space_names() -> list[str]:
    """Names of the built-in search spaces (``search_spaces/*.yaml``)."""
    return library_names("search_spaces")


def _space_path(name_or_path: str | os.PathLike) -> Path:
    return find_library_file("search_spaces", name_or_path, what="search space", error=SearchError)


@lru_cache(maxsize=32)
def _load_file(path: str, mtime: float) -> SearchSpace:
    return _parse(read_yaml_file(Path(path)), Path(path))


def load_space(name_or_path: str | os.PathLike) -> SearchSpace:
    """Load a built-in search space by name (``se_resnext``) or a space file.

    Raises:
        SearchError: unknown name (the message lists the built-in spaces) or missing file.
        SpecError: a malformed space (file:line, what was expected).

    Example:
        >>> space = load_space("se_resnext")
        >>> point = space.points["resnet50"]
        >>> space.cost(point, input_shape=(3, 224, 224), num_classes=1000).macs
        4089184256
    """
    path = _space_path(name_or_path)
    return _load_file(str(path.resolve()), path.stat().st_mtime)


def _parse(raw: Any, path: Path) -> SearchSpace:
    file = str(path)

    def line(mapping: Any, key: str) -> int | None:
        return mapping.line_of(key) if hasattr(mapping, "line_of") else None

    if not isinstance(raw, dict):
        raise SpecError("a search space must be a mapping with 'dimensions' and 'architecture'", file=file)
    unknown = [k for k in raw if k not in _SPACE_KEYS]
    if unknown:
        hint = did_you_mean(str(unknown[0]), list(_SPACE_KEYS))
        raise SpecError(
            f"unknown key '{unknown[0]}' in a search space{hint} (valid: {', '.join(_SPACE_KEYS)})",
            file=file, line=line(raw, unknown[0]),
        )
    for key in ("dimensions", "architecture"):
        if not isinstance(raw.get(key), dict) or not raw[key]:
            raise SpecError(f"a search space needs a non-empty '{key}' mapping", file=file, line=line(raw, key))
    template = load_spec(raw["architecture"], origin=path)
    dims: dict[str, Dimension] = {}
    for name, dom in raw["dimensions"].items():
        where = {"file": file, "line": line(raw["dimensions"], name)}
        if name not in template.params:
            raise SpecError(
                f"dimension '{name}' is not a param of the architecture (its params: {', '.join(template.params)}); "
                f"declare it under architecture.params with a default",
                **where,
            )
        dims[name] = _parse_dimension(name, dom, where)
        if not dims[name].contains(template.params[name]):
            raise SpecError(
                f"the architecture's default {name}={template.params[name]!r} is outside the domain "
                f"{dims[name].describe()}",
                **where,
            )
    defaults = {name: template.params[name] for name in dims}
    space_name = str(raw.get("name") or path.stem)
    points = raw.get("points") or {}
    if not isinstance(points, dict):
        raise SpecError("'points' must map names to points", file=file, line=line(raw, "points"))
    checked: dict[str, dict[str, Any]] = {}
    for pname, assignment in points.items():
        if not isinstance(assignment, dict):
            raise SpecError(f"point '{pname}' must be a mapping of dimension to value", file=file,
                            line=line(points, pname))
        try:
            checked[str(pname)] = _check_point(space_name, dims, {**defaults, **assignment}, f"point '{pname}'")
        except SearchError as exc:
            raise SpecError(str(exc), file=file, line=line(points, pname)) from None
    return SearchSpace(
        name=space_name, doc=str(raw.get("doc") or ""), dimensions=dims, points=checked, template=template, source=path
    )


def _parse_dimension(name: str, dom: Any, where: dict) -> Dimension:
    if not isinstance(dom, dict):
        raise SpecError(f"dimension '{name}': expected {{low: L, high: H}}, {{choices: [...]}} or {{type: bool}}", **where)
    keys = set(dom) - {"doc"}
    if keys == {"type"} and dom["type"] == "bool":
        return Choice(name, (False, True))
    if keys == {"choices"}:
        choices = dom["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"dimension '{name}': 'choices' must be a non-empty list", **where)
        if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise SpecError(f"dimension '{name}': choices must be numbers, strings, booleans or null", **where)
        if len(set(map(repr, choices))) != len(choices):
            raise SpecError(f"dimension '{name}': duplicate choices in {choices}", **where)
        return Choice(name, tuple(choices))
    if keys in ({"low", "high"}, {"low", "high", "step"}):
        low, high, step = dom["low"], dom["high"], dom.get("step", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step)) or step < 1 or low > high:
            raise SpecError(f"dimension '{name}': low <= high and step >= 1 must be integers, found {dict(dom)}",
                            **where)
        return IntRange(name, low, high, step)
    raise SpecError(
        f"dimension '{name}': expected {{low: L, high: H[, step: S]}}, {{choices: [...]}} or {{type: bool}}, "
        f"found keys {sorted(keys)}",
        **where,
    )
