"""Before any training: what the space holds under the budget (of N uniformly sampled points, how many fit, and
their cost spread), and a clear error when no point of the space can meet the budget, or when none can be built at
the proxy resolution the trials train at (:mod:`nascomp.search.space.proxy_resolution`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nascomp.cost.budget import format_macs
from nascomp.errors import BudgetError, SpecError
from nascomp.search.space.proxy_resolution import ProxyResolution, ProxyResolutionError
from nascomp.search.space.sampler import minimize_cost
from nascomp.search.space.search_space import SearchSpace

__all__ = ["Census", "take_census"]


@dataclass
class Census:
    """The result of costing ``sampled`` uniformly random points of a space.

    Attributes:
        sampled: Points costed.
        fitting_macs: MACs of the points that fit, sorted.
        fitting_params: Parameter counts of the points that fit, sorted.
        invalid: Points that are not valid architectures.
        cheapest: The cheapest point found (after a descent from the cheapest sample) and its MACs.
        named: MACs of the space's named points (``resnet50``: 4,087,136,256).
        seconds: Wall time of the census.
        proxy_failed: Sampled points that fit the budget but cannot be built at the proxy resolution (not counted
            as fitting; the sampler skips them too).
        proxy_error: The first such failure (its node and what its shape rule found), or ``None``.
        named_proxy_failed: Named points that fit the budget but cannot be built at the proxy resolution.
    """

    sampled: int
    fitting_macs: list[int]
    fitting_params: list[int]
    invalid: int
    cheapest: tuple[dict[str, Any], int] | None
    named: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    proxy_failed: int = 0
    proxy_error: ProxyResolutionError | None = None
    named_proxy_failed: tuple[str, ...] = ()

    @property
    def fitting(self) -> int:
        return len(self.fitting_macs)

    @property
    def points_per_second(self) -> float:
        return self.sampled / self.seconds if self.seconds > 0 else float("inf")

    def spread(self) -> str:
        """``min 0.31 / median 1.9 / max 3.98 GMACs`` of the fitting points."""
        if not self.fitting_macs:
            return "-"
        m = self.fitting_macs
        return f"min {format_macs(m[0])}, median {format_macs(statistics.median(m))}, max {format_macs(m[-1])}"


def take_census(space: SearchSpace, cost: Callable[[dict], Any], budget: int, *, samples: int, seed: int,
                proxy: ProxyResolution | None = None) -> Census:
    """Cost ``samples`` uniformly random points (seeded) and the space's named points.

    Args:
        space: The search space.
        cost: ``cost(point) -> Profile`` at the budget's input shape.
        budget: MACs.
        samples: How many random points to cost (0 skips the census but still checks that some point fits).
        seed: Seeds the random points.
        proxy: The proxy resolution trials train at; each point that fits the budget is also checked there, and
            one that cannot be built there is not counted as fitting (``None``: not checked).

    Raises:
        SearchError: points fit the budget, but none of them can be built at the proxy resolution (the message
            names the node and the smallest image size that works: :meth:`ProxyResolution.refusal`).
        BudgetError: no point of the space fits (the message gives the cheapest point found and its MACs).
    """
    start = time.perf_counter()
    rng = np.random.RandomState(seed)
    macs_fit, params_fit, invalid = [], [], 0
    cheapest: tuple[dict[str, Any], int] | None = None
    proxy_failed: list[dict[str, Any]] = []
    proxy_error: ProxyResolutionError | None = None

    def at_proxy(point: dict[str, Any]) -> bool:
        nonlocal proxy_error
        if proxy is None:
            return True
        try:
            proxy.check(point)
        except ProxyResolutionError as exc:
            proxy_failed.append(point)
            proxy_error = proxy_error or exc
            return False
        return True

    for _ in range(samples):
        point = space.random_point(rng)
        try:
            prof = cost(point)
        except SpecError:
            invalid += 1
            continue
        if cheapest is None or prof.macs < cheapest[1]:
            cheapest = (point, prof.macs)
        if prof.macs <= budget and at_proxy(point):  # only points that fit can be drawn: only they are checked
            macs_fit.append(prof.macs)
            params_fit.append(prof.params)
    sampled_failed = len(proxy_failed)
    named, named_failed = {}, []
    for name, point in space.points.items():
        try:
            named[name] = cost(point).macs
        except SpecError:
            continue
        if named[name] <= budget and not at_proxy(point):
            named_failed.append(name)
        if cheapest is None or named[name] < cheapest[1]:
            cheapest = (point, named[name])
    named_fit = [k for k, m in named.items() if m <= budget and k not in named_failed]
    if proxy is not None and proxy_error is not None and not macs_fit and not named_fit:
        raise proxy.refusal(proxy_failed, proxy_error, sampled=sampled_failed,
                            named=len(proxy_failed) - sampled_failed)
    if not macs_fit and not named_fit:
        start_point = cheapest[0] if cheapest else space.random_point(rng)
        point, macs = minimize_cost(space, start_point, lambda p: cost(p).macs, limit=None, gentle=False)
        cheapest = (point, macs)
        if macs > budget:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            exact = "" if format_macs(budget) == f"{budget:,} MACs" else f" ({budget:,} MACs)"
            raise BudgetError(
                f"no architecture of space '{space.name}' fits the budget of {format_macs(budget)}{exact}: "
                f"the cheapest found costs {format_macs(macs)} ({shown}); raise the budget or use a smaller space"
            )
    return Census(
        sampled=samples,
        fitting_macs=sorted(macs_fit),
        fitting_params=sorted(params_fit),
        invalid=invalid,
        cheapest=cheapest,
        named=named,
        seconds=time.perf_counter() - start,
        proxy_failed=sampled_failed,
        proxy_error=proxy_error,
        named_proxy_failed=tuple(named_failed),
    )
