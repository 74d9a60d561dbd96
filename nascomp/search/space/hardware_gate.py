"""Hard budgets on latency and training memory in a search: screened on the prediction, gated on the measurement.

- **Screen** (:meth:`HardwareGate.screen`, called by the budget sampler on every draw): a point whose *predicted*
  latency (:class:`nascomp.hardware.LatencyModel`, at the recipe's ``input_shape`` and ``latency:`` settings) or
  predicted training-step memory (:func:`nascomp.hardware.predict_training_memory`, at the ``input_shape``, the
  train batch size and optimizer) is over its budget is thrown away, like one over the MAC budget.
- **Gate** (:meth:`HardwareGate.check`, called by the loop once per trial before it trains): the predictions are
  recorded, and, when latency is budgeted or an objective, the net is built at the ``input_shape`` and its latency
  measured once (:func:`nascomp.hardware.measure_latency`). A point whose measurement is over the budget is failed
  with both figures and never trains.
- **Feasibility** (:func:`check_feasible`, before any training): a budget below the fastest (or smallest) point the
  predictions find in the space is refused with one line naming that point's figure.

Every figure comes from a callable passed in (``predict_ms``, ``measure_ms``, ``predict_memory``), so tests use
stand-ins; :func:`make_hardware_gate` wires the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nascomp._progress import WorkProgress
from nascomp._stop import StopFlag
from nascomp.errors import BudgetError, SpecError
from nascomp.hardware.budgets import format_ms
from nascomp.hardware.memory import format_bytes
from nascomp.search.trials import record as attrs
from nascomp.search.space.sampler import minimize_cost
from nascomp.search.space.search_space import SearchSpace, point_key

__all__ = ["HardwareGate", "HardwareVerdict", "check_feasible", "make_hardware_gate", "describe_best",
           "describe_budgets"]

Point = dict[str, Any]


@dataclass(frozen=True)
class HardwareVerdict:
    """What the gate found for one point.

    Attributes:
        predicted_ms: Predicted forward latency (ms per batch), or ``None`` when latency is not budgeted.
        measured_ms: Measured forward latency, or ``None`` when not measured (no latency budget or objective, or the
            point was refused on a prediction already).
        predicted_memory_bytes: Predicted peak memory of a training step, or ``None`` without a memory budget.
        reason: Why the point may not train, or ``None`` when it may.
    """

    predicted_ms: float | None = None
    measured_ms: float | None = None
    predicted_memory_bytes: int | None = None
    reason: str | None = None


@dataclass
class HardwareGate:
    """Latency and memory budgets, with the callables that give each figure for a point.

    Args:
        latency_budget_ms: Hard limit on forward latency, or ``None``.
        memory_budget_bytes: Hard limit on one training step's peak memory, or ``None``.
        predict_ms: ``point -> ms`` (predicted; no build).
        measure_ms: ``point -> ms`` (builds the net at the input shape and measures it).
        predict_memory: ``point -> bytes``.
        settings: How latency is taken, for messages and ``best.yaml`` (``cpu, batch 1, 1 thread, ...``).
        measure: Measure every trial's latency even without a latency budget (latency as an objective).

    Example:
        >>> gate = HardwareGate(latency_budget_ms=40.0, predict_ms=lambda p: 10.0 * p["depth"],
        ...                     measure_ms=lambda p: 11.0 * p["depth"], settings="cpu, batch 1")
        >>> gate.screen({"depth": 5}), gate.check({"depth": 3}).reason
        ('predicted latency 50.0 ms > budget 40.0 ms', None)
        >>> gate.check({"depth": 3.8}).reason
        'measured latency 41.8 ms > budget 40.0 ms (predicted 38.0 ms; cpu, batch 1); not trained'
    """

    latency_budget_ms: float | None = None
    memory_budget_bytes: int | None = None
    predict_ms: Callable[[Point], float] | None = None
    measure_ms: Callable[[Point], float] | None = None
    predict_memory: Callable[[Point], int] | None = None
    settings: str = ""
    measure: bool = False
    _predicted_ms: dict[tuple, float] = field(default_factory=dict, repr=False)
    _predicted_memory: dict[tuple, int] = field(default_factory=dict, repr=False)

    @property
    def measures(self) -> bool:
        return self.latency_budget_ms is not None or self.measure

    def latency(self, point: Point) -> float:
        """Predicted latency of ``point`` (memoized)."""
        key = point_key(point)
        if key not in self._predicted_ms:
            self._predicted_ms[key] = float(self.predict_ms(point))
        return self._predicted_ms[key]

    def memory(self, point: Point) -> int:
        """Predicted training-step memory of ``point`` (memoized)."""
        key = point_key(point)
        if key not in self._predicted_memory:
            self._predicted_memory[key] = int(self.predict_memory(point))
        return self._predicted_memory[key]

    def screen(self, point: Point) -> str | None:
        """Why ``point`` is over a budget on the predictions, or ``None`` when it fits. Raises SpecError for an
        invalid point (the sampler counts it as invalid)."""
        if self.latency_budget_ms is not None and self.predict_ms is not None:
            ms = self.latency(point)
            if ms > self.latency_budget_ms:
                return f"predicted latency {format_ms(ms)} > budget {format_ms(self.latency_budget_ms)}"
        if self.memory_budget_bytes is not None and self.predict_memory is not None:
            n = self.memory(point)
            if n > self.memory_budget_bytes:
                return (f"predicted training memory {format_bytes(n)} > budget "
                        f"{format_bytes(self.memory_budget_bytes)}")
        return None

    def check(self, point: Point) -> HardwareVerdict:
        """The predictions, then (when latency is budgeted or an objective, and the predictions fit) one
        measurement; the verdict says why the point may not train, with both latency figures."""
        predicted = self.latency(point) if self.predict_ms is not None and self.measures else None
        memory = self.memory(point) if self.memory_budget_bytes is not None and self.predict_memory else None
        reason = self.screen(point)
        if reason is not None:
            return HardwareVerdict(predicted, None, memory, f"{reason} (not trained)")
        measured = float(self.measure_ms(point)) if self.measures and self.measure_ms is not None else None
        if measured is not None and self.latency_budget_ms is not None and measured > self.latency_budget_ms:
            shown = f"predicted {format_ms(predicted)}; " if predicted is not None else ""
            reason = (f"measured latency {format_ms(measured)} > budget {format_ms(self.latency_budget_ms)} "
                      f"({shown}{self.settings}); not trained")
        return HardwareVerdict(predicted, measured, memory, reason)

    def record(self, trial, verdict: HardwareVerdict) -> None:
        """Store the verdict's figures on the trial (:mod:`nascomp.search.trials.record`)."""
        if verdict.predicted_ms is not None:
            trial.set_user_attr(attrs.PREDICTED_LATENCY_MS, verdict.predicted_ms)
        if verdict.measured_ms is not None:
            trial.set_user_attr(attrs.MEASURED_LATENCY_MS, verdict.measured_ms)
        if verdict.predicted_ms is not None or verdict.measured_ms is not None:
            trial.set_user_attr(attrs.LATENCY_SETTINGS, self.settings)
        if verdict.predicted_memory_bytes is not None:
            trial.set_user_attr(attrs.PREDICTED_MEMORY_BYTES, verdict.predicted_memory_bytes)


def check_feasible(gate: HardwareGate, space: SearchSpace, *, samples: int, seed: int) -> None:
    """Refuse budgets that no point of the space meets, on the predictions: of ``samples`` random points and the
    space's named points, the lowest is walked down one dimension at a time (:func:`minimize_cost`); if even that
    point is over a budget, :class:`BudgetError` names its figure.
    """
    rng = np.random.RandomState(seed)
    candidates = [space.random_point(rng) for _ in range(samples)] + list(space.points.values())
    budgets = []
    if gate.latency_budget_ms is not None and gate.predict_ms is not None:
        budgets.append(("latency", gate.latency, gate.latency_budget_ms, format_ms,
                        f"predicted at {gate.settings}"))
    if gate.memory_budget_bytes is not None and gate.predict_memory is not None:
        budgets.append(("training memory", gate.memory, gate.memory_budget_bytes, format_bytes,
                        "predicted for one training step"))
    for what, figure, budget, fmt, how in budgets:
        scored = []
        for point in candidates:
            try:
                scored.append((figure(point), point))
            except SpecError:
                continue
        if not scored:
            return
        best, start = min(scored, key=lambda s: s[0])
        if best <= budget:
            continue
        point, best = minimize_cost(space, start, figure, limit=budget, gentle=False)
        if best > budget:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            raise BudgetError(
                f"no architecture of space '{space.name}' meets the {what} budget of {fmt(budget)}: the lowest found "
                f"is {fmt(best)} ({how}; {shown}); raise the budget or use a smaller space")


def make_hardware_gate(recipe, space: SearchSpace, num_classes: int, *, stop: StopFlag | None = None,
                       progress: bool | WorkProgress = True) -> HardwareGate | None:
    """The gate of ``recipe``'s hardware budgets (``None`` when it has none): latency predicted by the
    :class:`~nascomp.hardware.LatencyModel` of the recipe's ``latency:`` settings and measured on the net built at
    ``input_shape``; memory predicted at ``input_shape``, the train batch size and optimizer.

    ``stop`` (a :class:`~nascomp._stop.StopFlag`) and ``progress`` (``bool`` or a
    :class:`~nascomp._progress.WorkProgress`) go to the latency model: a prediction that measures missing ops shows
    its progress and honours a stop between two measurements (:class:`~nascomp._stop.Stopped`).

    Raises:
        LatencyError: the latency device is absent, or the cached latency table belongs to another fingerprint.
    """
    if not recipe.measures_latency and recipe.memory_budget is None:
        return None
    from nascomp.graph.build import build
    from nascomp.hardware import LatencyModel, LatencySettings, measure_latency, predict_training_memory

    shape = tuple(recipe.input_shape)

    def spec(point: Point):
        return space.spec(point, num_classes=num_classes, input_shape=shape)

    predict_ms = measure_ms = predict_memory = None
    settings = ""
    if recipe.measures_latency:
        lat = LatencySettings(device=recipe.latency.device, batch_size=recipe.latency.batch_size,
                              threads=recipe.latency.threads)
        model = LatencyModel.open(lat, progress=progress, stop=stop)
        settings = lat.describe()

        def predict_ms(point: Point) -> float:
            return model.predict_ms(spec(point))

        def measure_ms(point: Point) -> float:
            # the wall clock (what `nascomp profile --latency` reports as measured): on a busy machine it is above
            # the idle-core time the table predicts, so load fails more candidates, never fewer
            return measure_latency(build(spec(point)), shape, lat).median_ms
    if recipe.memory_budget is not None:
        def predict_memory(point: Point) -> int:
            return predict_training_memory(spec(point), batch_size=recipe.train.batch_size,
                                           optimizer=recipe.train.optimizer).peak_bytes
    return HardwareGate(latency_budget_ms=recipe.latency_budget, memory_budget_bytes=recipe.memory_budget,
                        predict_ms=predict_ms, measure_ms=measure_ms, predict_memory=predict_memory,
                        settings=settings, measure=recipe.measures_latency)


def describe_best(user_attrs: dict[str, Any], recipe) -> str:
    """Lines for ``best.yaml``'s doc: the measured latency with its settings, and the predicted training memory."""
    lines = ""
    if attrs.MEASURED_LATENCY_MS in user_attrs:
        predicted = user_attrs.get(attrs.PREDICTED_LATENCY_MS)
        shown = f", predicted {format_ms(predicted)}" if predicted is not None else ""
        budget = f"; budget {format_ms(recipe.latency_budget)}" if recipe.latency_budget is not None else ""
        lines += (f"Measured latency: {format_ms(user_attrs[attrs.MEASURED_LATENCY_MS])} per forward pass "
                  f"({user_attrs.get(attrs.LATENCY_SETTINGS, '')}{shown}{budget})\n")
    if attrs.PREDICTED_MEMORY_BYTES in user_attrs:
        budget = f"; budget {format_bytes(recipe.memory_budget)}" if recipe.memory_budget is not None else ""
        lines += (f"Predicted training memory: {format_bytes(user_attrs[attrs.PREDICTED_MEMORY_BYTES])} peak per step "
                  f"(batch {recipe.train.batch_size}, {recipe.train.optimizer}, float32{budget})\n")
    return lines


def describe_budgets(recipe, gate: HardwareGate) -> str:
    """One line for the search's log: which hardware budgets hold, where and how they are checked."""
    shape = "x".join(map(str, recipe.input_shape))
    parts = []
    if recipe.latency_budget is not None:
        parts.append(f"latency budget {format_ms(recipe.latency_budget)} at {shape} ({gate.settings}): screened on "
                     f"the prediction, measured once before each candidate trains")
    elif gate.measures:
        parts.append(f"latency measured at {shape} ({gate.settings}) before each candidate trains")
    if recipe.memory_budget is not None:
        parts.append(f"training-memory budget {format_bytes(recipe.memory_budget)} at {shape}, batch "
                     f"{recipe.train.batch_size}, {recipe.train.optimizer} (predicted)")
    return "; ".join(parts)
