"""What a study leaves in its output folder: ``best.yaml``, ``trials.csv`` and two PNG plots.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an interrupted
write never leaves a half-written file, and a reader never sees one.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nascomp._atomic import atomic_path, write_atomic
from nascomp.cost.budget import format_macs
from nascomp.search.workers.slots import lost_reason
from nascomp.search.trials import record as attrs
from nascomp.spec.write import write_spec

__all__ = ["write_trials_csv", "write_best_yaml", "write_plots", "history_figure", "pareto_figure", "pareto_front",
           "trial_accuracy", "best_trial", "CSV_COLUMNS", "PLOT_STYLES"]

#: Columns of ``trials.csv`` before and after the space's parameters.
CSV_COLUMNS = (("number", "state"), ("macs", "params", "accuracy", "accuracy_se", "seconds", "duplicate_of", "reason",
                                     "lineage", "resumes", "paused_after_epoch", "promoted_as"))


def trial_accuracy(trial: FrozenTrial) -> float | None:
    """Validation accuracy of a trial: its value when complete, its last reported epoch when pruned."""
    if trial.state == TrialState.COMPLETE and trial.values:
        return float(trial.values[0])
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial with the highest accuracy (ties: fewer MACs, then the earlier trial); failed never."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if not done:
        return None
    return max(done, key=lambda t: (t.values[0], -t.user_attrs.get(attrs.MACS, 0), -t.number))


def pareto_front(points: list[tuple[int, float]]) -> list[int]:
    """Indices of the points (MACs, accuracy) not dominated by another (fewer-or-equal MACs and higher-or-equal
    accuracy, one strictly), sorted by MACs."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def write_trials_csv(study: optuna.Study, dimensions: list[str], path: Path) -> Path:
    """One row per trial: number, state, the space's parameters, MACs, params, accuracy, its standard error
    (:func:`nascomp.search.trials.record.accuracy_se` over the images the accuracy was measured on), seconds, reason,
    successive halving's record: the architecture's first trial (``lineage``), the paused trial this one
    ``resumes``, the epoch it was paused after (``paused_after_epoch``; 0: inside epoch 1, by a signal or the time
    limit) and the trial that resumed it (``promoted_as``); in a study with latency or memory budgets, also the
    predicted and measured latency (ms) and predicted memory (bytes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head, tail = CSV_COLUMNS
    trials = study.get_trials(deepcopy=False)
    hardware = [k for k in (attrs.PREDICTED_LATENCY_MS, attrs.MEASURED_LATENCY_MS, attrs.PREDICTED_MEMORY_BYTES)
                if any(k in t.user_attrs for t in trials)]
    writer.writerow([*head, *dimensions, *tail, *hardware])
    n_val = attrs.val_images(study)
    promoted_as = {}
    for t in trials:
        if t.user_attrs.get(attrs.RESUMES) is not None and t.state != TrialState.FAIL:
            promoted_as.setdefault(int(t.user_attrs[attrs.RESUMES]), t.number)
    for t in trials:
        paused_at = t.user_attrs.get(attrs.PAUSED_AT)
        acc = trial_accuracy(t)
        se = None if acc is None else attrs.accuracy_se(acc, attrs.trial_val_images(t, n_val))
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else ""
        writer.writerow([
            t.number,
            t.state.name,
            *(t.params.get(d, "") for d in dimensions),
            t.user_attrs.get(attrs.MACS, ""),
            t.user_attrs.get(attrs.PARAMS, ""),
            "" if acc is None else f"{acc:.4f}",
            "" if se is None else f"{se:.4f}",
            f"{seconds:.1f}" if seconds != "" else "",
            t.user_attrs.get(attrs.DUPLICATE_OF, ""),
            t.user_attrs.get(attrs.REASON, "") or lost_reason(t, trials),
            attrs.lineage(t) if t.params else "",
            t.user_attrs.get(attrs.RESUMES, ""),
            "" if paused_at is None else int(paused_at) + 1,
            promoted_as.get(t.number, ""),
            *(t.user_attrs.get(k, "") for k in hardware),
        ])
    return write_atomic(path, buf.getvalue())


def write_best_yaml(spec: dict[str, Any], path: Path) -> Path:
    """Write a plain spec mapping as YAML (:func:`nascomp.spec.write.write_spec`: keys in the spec format's order,
    one node per line), atomically."""
    return write_spec(spec, path)


#: Marker, colour, legend label and fill of each plotted trial state. A pruned trial's accuracy is that of its last
#: epoch before it was stopped: drawn hollow, labelled as partial, never part of the Pareto front or the best.
PLOT_STYLES = {
    TrialState.COMPLETE: ("o", "tab:blue", "complete", True),
    TrialState.PRUNED: ("v", "tab:orange", "pruned or paused (partial training)", False),
}


def _scatter(ax, xs, ys, state: TrialState) -> None:
    marker, color, label, filled = PLOT_STYLES[state]
    if filled:
        ax.scatter(xs, ys, marker=marker, color=color, label=label, zorder=3)
    else:
        ax.scatter(xs, ys, marker=marker, facecolors="none", edgecolors=color, label=label, zorder=2)


def history_figure(study: optuna.Study):
    """The figure of ``history.png``: accuracy per trial (pruned and paused ones hollow, failed at 0), dotted lines
    from each paused trial to the promotion that resumed it, and the best so far."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    trials = study.get_trials(deepcopy=False)
    scored = [(t, trial_accuracy(t)) for t in trials]
    fig = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for state in PLOT_STYLES:
        xs = [t.number for t, a in scored if t.state == state and a is not None]
        ys = [a for t, a in scored if t.state == state and a is not None]
        if xs:
            _scatter(ax, xs, ys, state)
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    if failed:
        ax.scatter(failed, [0.0] * len(failed), marker="x", color="tab:red", label="failed", zorder=3)
    accuracy = dict((t.number, a) for t, a in scored)
    label = "promotion: a paused trial resumed"
    for t, a in scored:  # successive halving's promotions: a dotted line from the paused trial to its resumption
        resumes = t.user_attrs.get(attrs.RESUMES)
        if resumes is not None and a is not None and accuracy.get(int(resumes)) is not None:
            ax.plot([int(resumes), t.number], [accuracy[int(resumes)], a], linestyle=":", color="tab:purple",
                    label=label, zorder=1)
            label = None
    best_x, best_y, best = [], [], -math.inf
    for t, a in scored:
        if t.state == TrialState.COMPLETE and a is not None and a > best:
            best = a
        if best > -math.inf:
            best_x.append(t.number)
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="tab:green", label="best so far")
        n_val = attrs.val_images(study)
        if n_val:  # +- one standard error of the best's accuracy, where the best changes
            changes = [i for i in range(len(best_y)) if i == 0 or best_y[i] != best_y[i - 1]]
            ax.errorbar([best_x[i] for i in changes], [best_y[i] for i in changes],
                        yerr=[attrs.accuracy_se(best_y[i], n_val) for i in changes], fmt="none",
                        ecolor="tab:green", capsize=3, label=f"+-1 SE (n = {n_val} val images)", zorder=4)
    last = max((t.number for t in trials), default=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(last + 1, 10), integer=True, min_n_ticks=1))
    ax.set_xlim(-0.5, last + 0.5)
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Optimization history: {study.study_name}")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _legend(ax)
    fig.tight_layout()
    return fig


def _latency_ms(t: FrozenTrial) -> float | None:
    """A trial's forward latency: measured where it was, else predicted (ms)."""
    value = t.user_attrs.get(attrs.MEASURED_LATENCY_MS, t.user_attrs.get(attrs.PREDICTED_LATENCY_MS))
    return None if value is None else float(value)


def pareto_figure(study: optuna.Study, budget: int | None = None, *, cost: str = "macs",
                  latency_budget_ms: float | None = None):
    """The figure of ``pareto.png``: accuracy against cost, complete trials filled, pruned ones hollow, and the
    Pareto front of complete trials only.

    Args:
        study: The search's study.
        budget: The MACs budget, drawn as a line when ``cost`` is ``macs``.
        cost: ``macs`` (MACs at the budget's input shape) or ``latency`` (the forward latency in ms, measured where
            a trial was measured, else predicted: what an ``accuracy,latency`` study trades off).
        latency_budget_ms: The latency budget, drawn as a line when ``cost`` is ``latency``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if cost not in ("macs", "latency"):
        raise ValueError(f"cost must be 'macs' or 'latency', found {cost!r}")
    x_of = (lambda t: t.user_attrs.get(attrs.MACS)) if cost == "macs" else _latency_ms
    scored = [(t, trial_accuracy(t)) for t in study.get_trials(deepcopy=False)]
    fig = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    pts = [(x_of(t), a, t) for t, a in scored if a is not None and x_of(t) is not None and t.state in PLOT_STYLES]
    for state in PLOT_STYLES:
        sel = [(m, a) for m, a, t in pts if t.state == state]
        if sel:
            _scatter(ax, *zip(*sel), state)
    complete = [(m, a) for m, a, t in pts if t.state == TrialState.COMPLETE]
    front = [complete[i] for i in pareto_front(complete)]
    if front:
        ax.step([m for m, _ in front], [a for _, a in front], where="post", color="tab:green",
                marker="*", markersize=10, label="Pareto front (complete trials)", zorder=4)
    line = budget if cost == "macs" else latency_budget_ms
    if line is not None:
        ax.axvline(line, color="tab:red", linestyle="--", label="budget")
    if cost == "macs":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_macs(x)))
        ax.set_xlabel("MACs at the budget's input shape")
    else:
        settings = next((t.user_attrs[attrs.LATENCY_SETTINGS] for _, _, t in pts
                         if attrs.LATENCY_SETTINGS in t.user_attrs), None)
        ax.set_xlabel("forward latency (ms; measured, else predicted)" + (f": {settings}" if settings else ""))
    ax.set_ylabel("validation accuracy")
    ax.set_title("Accuracy against cost")
    low = min((a for _, a, _ in pts), default=0.0)
    ax.set_ylim(max(0.0, low - 0.05), 1.005)  # accuracy cannot pass 1
    ax.grid(alpha=0.3)
    _legend(ax)
    fig.tight_layout()
    return fig


def _legend(ax) -> None:
    """A legend of the labelled artists, none when nothing is drawn (matplotlib would warn "No artists with
    labels found")."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)


def write_plots(study: optuna.Study, out: Path, *, budget: int | None = None, cost: str = "macs",
                latency_budget_ms: float | None = None) -> list[Path]:
    """``history.png`` (:func:`history_figure`) and ``pareto.png`` (:func:`pareto_figure`, accuracy against
    ``cost``: ``macs``, or ``latency`` in an ``accuracy,latency`` study), each only when it has something to show:
    ``history.png`` once the study has a finished trial (failed ones are drawn at 0), and ``pareto.png`` once a
    trial has an accuracy (complete or pruned) and a cost. An empty plot is never written. Pure matplotlib on the
    Agg canvas: no display, no global backend change."""
    trials = study.get_trials(deepcopy=False)
    written = []
    if any(t.state.is_finished() for t in trials):
        written.append(_save(history_figure(study), out / "history.png"))
    has_cost = (lambda t: attrs.MACS in t.user_attrs) if cost == "macs" else (lambda t: _latency_ms(t) is not None)
    if any(trial_accuracy(t) is not None and has_cost(t) for t in trials):
        written.append(_save(pareto_figure(study, budget, cost=cost, latency_budget_ms=latency_budget_ms),
                             out / "pareto.png"))
    return written


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
