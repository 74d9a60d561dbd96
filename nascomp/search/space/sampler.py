"""A sampler wrapper that makes the compute budget hard: Optuna only ever sees points that fit.

Optuna's constraints are soft (a constrained trial still trains, then counts as infeasible). Here every draw of the
wrapped sampler (TPE by default) is costed analytically first (:meth:`SearchSpace.cost`, about a millisecond, no
weights); a draw over the budget, or one the study has already evaluated, is discarded and the wrapped sampler is
asked again, from the same trial. This is rejection sampling from the sampler's own proposal, truncated to the
feasible set, so TPE's density model stays in charge and no infeasible trial is ever created, trained or stored.
When half of ``max_draws`` draws have missed (TPE late in a study keeps proposing the points it likes, which are
already evaluated), the rest come from a seeded uniform sampler, to explore. If all ``max_draws`` miss (a budget
that admits a sliver of the space: se_resnext at 300 MFLOPs keeps about 1 uniform point in 1,000), the point comes
from a seeded :class:`~nascomp.search.space.feasible_walk.FeasibleWalk`, a Gibbs walk whose draws are near-uniform
over the points that fit, started once at the repaired cheapest draw. Until 2026-12-06 the repaired draw itself was
the point, and every such trial walked down to the same few tiny nets. Repair (one dimension at a time steps to its
next cheaper value, the smallest cost cut first) remains only for a walk that cannot start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from nascomp.errors import SpecError
from nascomp.search.space.feasible_walk import FeasibleWalk
from nascomp.search.space.search_space import SearchSpace, point_key
from nascomp.search.workers.coordinator import lost_numbers
from nascomp.search.trials import record as attrs

__all__ = ["BudgetSampler", "DrawStats", "cheaper_neighbours", "minimize_cost", "evaluated_points"]


@dataclass
class DrawStats:
    """What screening one trial's point cost.

    Attributes:
        draws: Points costed analytically.
        over_budget: Draws whose MACs exceeded the budget.
        invalid: Draws that are not a valid architecture (recorded with the reason).
        duplicates: Draws the study had already evaluated.
        repaired: Whether the point came from repairing an over-budget draw.
        walked: Whether the point came from the walk over the feasible set (every draw missed).
        reasons: A few rejection reasons, for the record.
    """

    draws: int = 0
    over_budget: int = 0
    invalid: int = 0
    duplicates: int = 0
    repaired: bool = False
    walked: bool = False
    reasons: list[str] = field(default_factory=list)


def cheaper_neighbours(space: SearchSpace, point: dict[str, Any]) -> list[dict[str, Any]]:
    """Points one step down in one ordered dimension (int ranges, numeric choices; ``true`` -> ``false``)."""
    out = []
    for name, dim in space.dimensions.items():
        values = dim.values
        if not all(isinstance(v, (int, float)) for v in values):  # an int range always is
            continue
        ordered = sorted(values, key=float)
        i = ordered.index(point[name])
        if i > 0:
            out.append({**point, name: ordered[i - 1]})
    return out


def minimize_cost(space: SearchSpace, point: dict[str, Any], cost: Callable[[dict], int], limit: int | None = None,
                  gentle: bool = True) -> tuple[dict[str, Any], int]:
    """Walk down :func:`cheaper_neighbours` until the cost is at most ``limit`` (or stops falling if ``None``).

    ``gentle`` takes the smallest cost cut at each step (repair: stay close to the draw); otherwise the largest
    (find the cheapest point fast). Returns the point and its cost.
    """
    current, current_cost = dict(point), cost(point)
    while limit is None or current_cost > limit:
        options = []
        for cand in cheaper_neighbours(space, current):
            try:
                c = cost(cand)
            except SpecError:
                continue
            if c < current_cost:
                options.append((c, cand))
        if not options:
            break
        current_cost, current = max(options, key=lambda o: o[0]) if gentle else min(options, key=lambda o: o[0])
    return current, current_cost


class BudgetSampler(optuna.samplers.BaseSampler):
    """Propose only points of ``space`` whose analytic MACs fit ``budget`` and that the study has not evaluated.

    Args:
        base: The sampler whose proposals are screened (TPE, random, ...).
        space: The search space; every trial samples all of its dimensions.
        cost: ``cost(point) -> MACs`` (memoized analytic cost at the budget's input shape).
        budget: The hard limit, in MACs.
        max_draws: Draws per trial before the point comes from the walk over the feasible set (the second half are
            uniform draws).
        seed: Seeds the uniform draws and the walk.
        screen: ``screen(point) -> reason or None``: further hard budgets checked on a prediction after the MACs fit
            (latency, training memory: :meth:`nascomp.search.space.hardware_gate.HardwareGate.screen`); a draw it
            gives a reason for counts as over budget. ``None``: MACs only.

    Example:
        >>> space = load_space("se_resnext")
        >>> cost = lambda p: space.cost(p, input_shape=(3, 224, 224), num_classes=10).macs
        >>> sampler = BudgetSampler(optuna.samplers.TPESampler(seed=0), space, cost, budget=4 * 10**9)
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)
        >>> point = space.suggest(study.ask())
        >>> cost(point) <= 4 * 10**9
        True
    """

    def __init__(self, base: optuna.samplers.BaseSampler, space: SearchSpace, cost: Callable[[dict], int],
                 budget: int, *, max_draws: int = 100, seed: int | None = None,
                 screen: Callable[[dict], str | None] | None = None):
        self.base = base
        self.screen = screen
        self.space = space
        self.cost = cost
        self.budget = budget
        self.max_draws = max_draws
        self._stats: dict[int, DrawStats] = {}  # trial number -> its draws, until draw_stats() takes them
        self._explore = optuna.samplers.RandomSampler(seed=seed)
        self._seed = seed
        self._walk: FeasibleWalk | None = None  # started at the first trial whose draws all miss

    # -- BaseSampler ----------------------------------------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.space.distributions()

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        stats = self._stats[trial.number] = DrawStats()
        seen = evaluated_points(study.get_trials(deepcopy=False))
        cheapest: tuple[int, dict[str, Any]] | None = None
        fallback: dict[str, Any] | None = None
        for draw in range(self.max_draws):
            if draw < self.max_draws // 2:
                point = dict(self.base.sample_relative(study, trial, search_space))
                for name, dist in search_space.items():
                    if name not in point:
                        point[name] = self.base.sample_independent(study, trial, name, dist)
            else:
                point = {name: self._explore.sample_independent(study, trial, name, dist)
                         for name, dist in search_space.items()}
            stats.draws += 1
            try:  # the MACs budget first (cheap); the screen (a hardware prediction) only for points within it
                macs = self.cost(point)
                screened = self.screen(point) if self.screen is not None and macs <= self.budget else None
            except SpecError as exc:
                stats.invalid += 1
                self._note(stats, f"invalid: {exc}")
                continue
            if macs > self.budget:
                stats.over_budget += 1
                self._note(stats, f"over budget: {macs:,} MACs > {self.budget:,}")
                if cheapest is None or macs < cheapest[0]:
                    cheapest = (macs, point)
                continue
            if screened is not None:
                stats.over_budget += 1
                self._note(stats, screened)
                continue
            if point_key(point) in seen:
                stats.duplicates += 1
                fallback = fallback or point
                continue
            return point
        walked = self._walk_draw(cheapest[1] if cheapest else fallback, seen)
        if walked is not None:
            stats.walked = True
            return walked
        if fallback is not None:  # every fitting draw was a duplicate: the study reuses its recorded result
            return fallback
        if cheapest is None:
            return {}  # nothing valid was drawn; Optuna falls back to sample_independent (still screened later)
        stats.repaired = True
        repaired, _ = minimize_cost(self.space, cheapest[1], self.cost, limit=self.budget)
        return repaired

    def fits(self, point: dict[str, Any]) -> bool:
        """Whether ``point`` is a valid architecture within the MACs budget and the screen's budgets."""
        try:
            return self.cost(point) <= self.budget and (self.screen is None or self.screen(point) is None)
        except SpecError:
            return False

    def _walk_draw(self, miss: dict[str, Any] | None, seen: dict[tuple, FrozenTrial], tries: int = 20
                   ) -> dict[str, Any] | None:
        """The walk's next point the study has not evaluated (``None``: no walk could start, or ``tries`` draws
        were all evaluated already). The walk starts at ``miss`` repaired, else at the space's cheapest corner."""
        if self._walk is None:
            if miss is None:
                return None
            for gentle in (True, False):
                start, _ = minimize_cost(self.space, miss, self.cost, limit=self.budget if gentle else None,
                                         gentle=gentle)
                if self.fits(start):
                    self._walk = FeasibleWalk(self.space, self.fits, start, seed=self._seed)
                    break
            else:
                return None
        for _ in range(tries):
            point = self._walk.draw()
            if point_key(point) not in seen:
                return point
        return None

    def draw_stats(self, trial_number: int) -> DrawStats:
        """What screening cost the point of trial ``trial_number`` (taken once: a second call, or a trial whose
        point was not drawn here, such as a queued retry, gives empty stats)."""
        return self._stats.pop(trial_number, DrawStats())

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._explore.reseed_rng()

    @staticmethod
    def _note(stats: DrawStats, reason: str) -> None:
        if len(stats.reasons) < 3:
            stats.reasons.append(reason)


def evaluated_points(trials: Sequence[FrozenTrial]) -> dict[tuple, FrozenTrial]:
    """Points the study has a result for (complete, pruned, or failed for a reason other than an interruption or
    a worker that died mid-trial: that trial's retry trains the point)."""
    lost = lost_numbers(trials)
    out: dict[tuple, FrozenTrial] = {}
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and not t.user_attrs.get(attrs.INTERRUPTED) and t.params and t.number not in lost
        ):
            out.setdefault(point_key(t.params), t)
    return out
