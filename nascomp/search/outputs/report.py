"""What a search shows: the census table, progress bars (trials and epochs, best so far, ETA), one line per trial,
and the summary table. All through rich; when output is not a terminal the bars stay silent, and a line per epoch
takes their place."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nascomp._console import make_console
from nascomp.cost.budget import format_macs
from nascomp.search.outputs.study_files import best_trial, trial_accuracy
from nascomp.search.trials import record as attrs
from nascomp.search.trials.lineages import latest_trials, stopped_lineages

__all__ = ["Reporter", "summary_table", "trials_table", "no_winner"]


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _se(value: float | None, n_val: int | None) -> str:
    """``+-0.0055``: the accuracy's standard error over ``n_val`` validation images, ``-`` when unknown."""
    se = None if value is None else attrs.accuracy_se(value, n_val)
    return "-" if se is None else f"+-{se:.4f}"


def _params(n: int) -> str:
    """``25557032`` -> ``25.56 M``; small counts in full (``1,234``)."""
    return f"{n / 1e6:.2f} M" if n >= 100_000 else f"{n:,}"


def _point(trial: FrozenTrial, limit: int = 90) -> str:
    text = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in trial.params.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Bars:
    """The live bars on a terminal; elsewhere (a log file, a pipe, a batch job's output, or ``bars=False``) one
    line per epoch instead, so that a long trial still shows that it is alive."""

    def __init__(self, progress: Progress, trials_task, epoch_task, epochs: int, steps: int, *, live: bool):
        self.progress, self.trials_task, self.epoch_task = progress, trials_task, epoch_task
        self.epochs, self.steps, self.live = epochs, steps, live
        self.best_text = "best: -"
        self.trial_number: int | None = None
        self.trial_started = time.perf_counter()

    def best(self, trial: FrozenTrial | None) -> None:
        if trial is not None:
            self.best_text = f"best {trial.values[0]:.4f} (#{trial.number}, {format_macs(trial.user_attrs.get(attrs.MACS, 0))})"
        self.progress.update(self.trials_task, description=f"trials · {self.best_text}")

    def trial_done(self, done: int, best: FrozenTrial | None) -> None:
        self.progress.update(self.trials_task, completed=done)
        self.best(best)

    def start_trial(self, number: int, macs: int) -> None:
        self.trial_number = number
        self.trial_started = time.perf_counter()
        self.progress.reset(self.epoch_task, total=self.epochs * self.steps,
                            description=f"trial {number} ({format_macs(macs)}) · epoch 1/{self.epochs}")

    def step(self, step: int, steps: int) -> None:
        self.progress.advance(self.epoch_task)

    def epoch_done(self, epoch: int, accuracy: float) -> None:
        if not self.live:
            seconds = time.perf_counter() - self.trial_started
            self.progress.console.print(f"trial {self.trial_number:>3}  epoch {epoch + 1}/{self.epochs}  val acc "
                                        f"{accuracy:.4f}  {seconds:5.1f} s", highlight=False)
        nxt = min(epoch + 2, self.epochs)
        self.progress.update(
            self.epoch_task, completed=(epoch + 1) * self.steps,
            description=f"trial {self.trial_number} · epoch {nxt}/{self.epochs} · val {accuracy:.4f}",
        )


class Reporter:
    """Prints a search's progress on a rich console.

    Args:
        console: Where to print; default stdout (160 columns when not a terminal).
        bars: Show live progress bars (ignored when the console is not a terminal). Without them (not a terminal,
            or ``bars=False``), each epoch of a trial prints one line: trial, epoch, validation accuracy, seconds.
    """

    def __init__(self, console: Console | None = None, bars: bool = True):
        self.console = console or make_console()
        self.bars = bars

    @property
    def live(self) -> bool:
        """Live bars are shown: asked for, and the console is a terminal (rich's ``Console.is_terminal``).
        Otherwise every epoch of a trial prints one line."""
        return self.bars and self.console.is_terminal

    def note(self, message: str) -> None:
        self.console.print(f"[bold]nascomp search:[/bold] {message}", highlight=False)

    def census(self, space, recipe, census, num_classes: int, data) -> None:
        shape = "x".join(map(str, recipe.input_shape))
        table = Table(title=f"Space '{space.name}' under {format_macs(recipe.budget)} at {shape}, {num_classes} classes",
                      show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        table.add_row("space", f"{len(space.dimensions)} dimensions, {space.size:,} points")
        if census.sampled:
            share = census.fitting / census.sampled
            table.add_row("census", f"of {census.sampled} uniformly sampled points, {census.fitting} fit "
                                    f"({share:.0%}); {census.invalid} invalid")
            table.add_row("MACs of fitting points", census.spread())
            if census.fitting_params:
                p = census.fitting_params
                table.add_row("params of fitting points",
                              f"min {_params(p[0])}, median {_params(p[len(p) // 2])}, max {_params(p[-1])}")
            table.add_row("costing speed", f"{census.points_per_second:,.0f} points/s (analytic, no weights)")
        size = f"{recipe.data.image_size}x{recipe.data.image_size}"
        if census.proxy_failed:
            node = census.proxy_error.node if census.proxy_error is not None else None
            table.add_row(f"cannot train at {size}", f"{census.proxy_failed} sampled points that fit the budget"
                                                     f"{f' (node {node!r})' if node else ''}: not counted as fitting; "
                                                     f"the sampler skips them")
        for name, macs in census.named.items():
            verdict = "[green]fits[/green]" if macs <= recipe.budget else "[red]over budget[/red]"
            if name in census.named_proxy_failed:
                verdict += f", [red]cannot train at {size}[/red]"
            table.add_row(f"point {name}", f"{format_macs(macs)} {verdict}")
        if census.cheapest is not None:
            table.add_row("cheapest found", format_macs(census.cheapest[1]))
        table.add_row("proxy training", f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val images at "
                                        f"{recipe.data.image_size}x{recipe.data.image_size}, {recipe.train.epochs} "
                                        f"epoch(s), label smoothing {recipe.train.label_smoothing}")
        self.console.print(table)

    @contextlib.contextmanager
    def progress(self, *, total: int, completed: int, epochs: int, steps: int) -> Iterator[_Bars]:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
            transient=False,
        )
        trials_task = progress.add_task("trials", total=total, completed=completed)
        epoch_task = progress.add_task("waiting for the first trial", total=epochs * steps)
        with progress:
            yield _Bars(progress, trials_task, epoch_task, epochs, steps, live=self.live)

    def trial_line(self, study: optuna.Study, number: int, outcome: str) -> None:
        t = study.get_trials(deepcopy=False)[number]
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0.0
        macs = t.user_attrs.get(attrs.MACS)
        colour = {"complete": "green", "pruned": "yellow", "failed": "red", "reused": "cyan",
                  "paused": "magenta"}.get(outcome, "white")
        parts = [f"trial {number:>3}", f"[{colour}]{outcome:<8}[/{colour}]", f"acc {_acc(trial_accuracy(t))}",
                 format_macs(macs) if macs is not None else "-", f"{seconds:5.1f} s"]
        draws = t.user_attrs.get(attrs.DRAWS)
        if draws and draws > 1:
            parts.append(f"{draws} draws screened")
        if t.user_attrs.get(attrs.WALKED):
            parts.append("point from the walk over the feasible set")
        elif t.user_attrs.get(attrs.REPAIRED):
            parts.append("point repaired to fit")
        if t.user_attrs.get(attrs.RESUMES) is not None:
            parts.append(f"resumed trial {t.user_attrs[attrs.RESUMES]}")
        if t.user_attrs.get(attrs.RESTARTED):
            parts.append(f"restarted: {t.user_attrs[attrs.RESTARTED]}")
        if t.user_attrs.get(attrs.REASON):
            parts.append(str(t.user_attrs[attrs.REASON]))
        self.console.print("  ".join(parts), highlight=False)

    def summary(self, study: optuna.Study, space, recipe, result) -> None:
        if any(trial_accuracy(t) is not None for t in study.get_trials(deepcopy=False)):
            self.console.print(trials_table(study, limit=10))
        self.console.print(summary_table(study, recipe.budget, result))
        handover = getattr(result, "handover", None)
        if handover is not None:
            self.console.print(f"baseline: {handover.note}", highlight=False, soft_wrap=True)
        if best_trial(study) is None:
            self.console.print(no_winner(result, recipe.search.timeout), highlight=False, soft_wrap=True)
        elif handover is not None:
            if handover.commands:
                self.console.print("Next: train the winner and the baseline at the same budget to the end, and "
                                   "compare their test accuracies:", highlight=False, soft_wrap=True)
                for command in handover.commands:
                    self.console.print(f"  {command}", highlight=False, soft_wrap=True, markup=False)


def no_winner(result, timeout: float | None) -> str:
    """What a run that ends without a complete trial says instead of handing over a winner: plainly that no trial
    finished, why (the time limit, a signal, every trial failed, only pruned trials), and what to do."""
    head = "No trial finished, so there is no winner yet: no best.yaml was written."
    if getattr(result, "failure", None):
        return (f"{head} Every trial failed (reasons above and in trials.csv): fix the cause, then start a new study "
                f"(--study-name or --out) or raise --trials to add trials to this one.")
    if result.interrupted:
        return f"{head} Rerun the same command to resume the study."
    if result.stopped_by_timeout:
        limit = f"the {timeout:.0f} s --timeout" if timeout is not None else "the time limit"
        return (f"{head} {limit[0].upper()}{limit[1:]} ended the run first: rerun the same command with a longer "
                f"--timeout (the default recipe's is 9m) to resume the study; its trials are kept.")
    return (f"{head} No trial has completed its full schedule (pruned trials only): rerun the same command with "
            f"more --trials to resume the study.")


def _state_label(t: FrozenTrial, stopped: Collection[int]) -> str:
    """A trial's state as a reader needs it: a paused trial (its state saved, it may be promoted) is not pruned."""
    if t.state == TrialState.PRUNED and t.user_attrs.get(attrs.PAUSED_AT) is not None \
            and attrs.lineage(t) not in stopped:
        return "paused"
    return t.state.name.lower()


def trials_table(study: optuna.Study, limit: int = 10) -> Table:
    """The top architectures by accuracy (complete first, then paused or pruned), one row each: the latest trial of
    each lineage (under successive halving with pauses an architecture is trained by several trials in turn)."""
    trials = study.get_trials(deepcopy=False)
    latest = set(map(id, latest_trials(trials).values()))
    stopped = stopped_lineages(study.user_attrs)
    ranked = sorted((t for t in trials if trial_accuracy(t) is not None and (id(t) in latest or not t.params)),
                    key=lambda t: (t.state != TrialState.COMPLETE, -(trial_accuracy(t) or 0.0), t.number))
    table = Table(title=f"Top trials of study '{study.study_name}'", title_justify="left")
    n_val = attrs.val_images(study)
    for col, just in (("#", "right"), ("state", "left"), ("accuracy", "right"), ("SE", "right"), ("MACs", "right"),
                      ("params", "right"), ("s", "right"), ("point", "left")):
        table.add_column(col, justify=just)
    for t in ranked[:limit]:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0.0
        table.add_row(str(t.number), _state_label(t, stopped), _acc(trial_accuracy(t)),
                      _se(trial_accuracy(t), attrs.trial_val_images(t, n_val)),
                      format_macs(t.user_attrs.get(attrs.MACS, 0)), _params(t.user_attrs.get(attrs.PARAMS, 0)),
                      f"{seconds:.0f}", _point(t))
    return table


def summary_table(study: optuna.Study, budget: int, result) -> Table:
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    table = Table(title="Summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    best = best_trial(study)
    if best is not None:
        n_val = attrs.val_images(study)
        se = "" if n_val is None else f" {_se(best.values[0], n_val)} (SE over {n_val} val images)"
        table.add_row("best", f"trial {best.number}: accuracy {best.values[0]:.4f}{se}, "
                              f"{format_macs(best.user_attrs[attrs.MACS])} (budget {format_macs(budget)}), "
                              f"{_params(best.user_attrs[attrs.PARAMS])} params")
    else:
        table.add_row("best", "none yet: no trial completed")
    noun = "trial" if len(trials) == 1 else "trials"
    paused = sum(t.user_attrs.get(attrs.PAUSED_AT) is not None for t in trials)
    promoted = sum(t.user_attrs.get(attrs.RESUMES) is not None for t in trials)
    halving = f"; successive halving paused {paused} and resumed {promoted} of them" if paused else ""
    architectures = len(latest_trials(trials))  # what --trials counts: one per architecture, however many trials
    what = f"{architectures} architecture{'' if architectures == 1 else 's'} in " if promoted else ""
    table.add_row("study", f"{study.study_name}: {what}{len(trials)} {noun} ({counts[TrialState.COMPLETE]} "
                           f"complete, {counts[TrialState.PRUNED]} pruned or paused, {counts[TrialState.FAIL]} "
                           f"failed{halving})")
    if result.screened or result.trained:
        table.add_row("this run", f"screened {result.screened} points by analytic cost, {result.screened_fit} fit; "
                                  f"trained {result.trained}; {result.seconds:.0f} s")
    from nascomp.search.workers.storage import describe_storage

    table.add_row("storage", describe_storage(result.storage))
    shown = sorted({str(p) for p in result.files})
    table.add_row("files", "\n".join(shown) if shown else "-")
    if result.interrupted:
        table.add_row("stopped", f"{result.stop_reason or 'interrupted'}; rerun the same command to resume")
    elif result.stopped_by_timeout:
        table.add_row("stopped", "by the time limit; rerun (or raise --timeout) to add the remaining trials")
    return table

