"""``nascomp search --retrain-epochs N``: after the search, train the winner and the baseline to the same schedule.

The hand-over (:mod:`nascomp.search.outputs.handover`) names two specs: ``best.yaml`` (the winner, chosen on the proxy)
and ``baseline.yaml`` (the space's default architecture scaled to the same budget). With ``retrain_epochs`` set,
both are trained here by :func:`nascomp.train.train_spec`, exactly as the printed ``nascomp train`` commands would
(same data source, ``nascomp train``'s default schedule, ``--epochs N``), into ``<out>/train-best`` and
``<out>/train-baseline``. Their test accuracies are measured once, on the data set's fixed test split (official
where the data set has one), which the search never saw. The two are printed side by side and written to
``<out>/retrain.csv``. The search's own results are written before this starts, so Ctrl-C here loses nothing:
each training keeps its last finished epoch's checkpoint, and rerunning the same command resumes it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from nascomp._atomic import write_atomic
from nascomp._stop import StopFlag
from nascomp.cost.budget import format_macs
from nascomp.cost.profile import profile
from nascomp.train import RunConfig, TrainSummary, train_spec

__all__ = ["Retrained", "retrain_handover", "RETRAIN_FILE", "CSV_COLUMNS"]

RETRAIN_FILE = "retrain.csv"
CSV_COLUMNS = ("net", "spec", "epochs", "test_accuracy", "test_stderr", "test_n", "test_split", "params",
               "budget_macs", "trained_macs", "trained_input_shape", "out")


@dataclass(frozen=True)
class Retrained:
    """One retrained net.

    Attributes:
        net: ``best`` or ``baseline``.
        spec: The spec file trained.
        summary: :func:`~nascomp.train.train_spec`'s summary (test accuracy, standard error, params, MACs as
            trained).
        budget_macs: MACs of the spec at the search's input shape (the shape the budget is measured at).
    """

    net: str
    spec: Path
    summary: TrainSummary
    budget_macs: int


def retrain_handover(handover, recipe, out: Path, *, stop: StopFlag, console, bars: bool) -> tuple[
        list[Retrained], Path | None]:
    """Train ``best.yaml`` and ``baseline.yaml`` for ``recipe.search.retrain_epochs`` epochs; print and write them.

    Args:
        handover: The search's :class:`~nascomp.search.outputs.handover.Handover` (``baseline`` may be ``None``).
        recipe: The study's recipe (data source, device, ``search.retrain_epochs``).
        out: The study's output folder (``best.yaml`` is there when the search has a winner).
        stop: The run's stop flag; when it is set, training stops after the current step and nothing more runs.
        console: A rich console for the table.
        bars: Progress bars (else one line per epoch).

    Returns:
        The nets trained to the end, and ``<out>/retrain.csv`` (``None`` when nothing finished).

    Raises:
        NascompError: a training failed (e.g. its loss became NaN); the search's outputs are already written.
    """
    epochs = recipe.search.retrain_epochs
    config = RunConfig(data=recipe.data.source, epochs=epochs, device=recipe.device, image_size=recipe.data.image_size)
    specs = [("best", out / "best.yaml")] if (out / "best.yaml").is_file() else []
    if handover.baseline is not None:
        specs.append(("baseline", handover.baseline))
    done: list[Retrained] = []
    for net, spec in specs:
        if stop.set:
            break
        console.print(f"[bold]nascomp search:[/bold] retraining {net} ({spec.name}) for {epochs} epoch(s) on "
                      f"{recipe.data.source}", highlight=False)
        summary = train_spec(str(spec), config, out=out / f"train-{net}", stop=stop, progress=bars, console=console)
        if summary.interrupted:
            console.print(f"[bold]nascomp search:[/bold] retraining {net} stopped ({stop.reason}) after "
                          f"{summary.epochs_done}/{epochs} epoch(s); rerun the same command to resume it",
                          highlight=False)
            break
        done.append(Retrained(net, spec, summary, profile(str(spec)).macs))
    if not done:
        return done, None
    console.print(_table(done, recipe))
    return done, write_atomic(out / RETRAIN_FILE, _csv(done))


def _table(done: list[Retrained], recipe) -> Table:
    shape = "x".join(map(str, recipe.input_shape))
    first = done[0].summary
    table = Table(title=f"Retrained {first.epochs} epoch(s) on {first.data}, test split: {first.test_source} "
                        f"({first.test_n:,} images, evaluated once)", title_justify="left")
    for col in ("net", "test accuracy", "params", f"MACs at {shape}", "MACs as trained", "folder"):
        table.add_column(col, justify="left" if col in ("net", "folder") else "right")
    for r in done:
        s = r.summary
        table.add_row(r.net, f"{100 * s.test_accuracy:.2f} % ± {100 * s.test_stderr:.2f}", f"{s.params:,}",
                      format_macs(r.budget_macs), f"{format_macs(s.macs)} at {'x'.join(map(str, s.input_shape))}",
                      s.out)
    table.caption = "± is the standard error sqrt(p (1 - p) / n); FLOPs here are MACs"
    return table


def _csv(done: list[Retrained]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in done:
        s = r.summary
        writer.writerow([r.net, str(r.spec), s.epochs, f"{s.test_accuracy:.6f}", f"{s.test_stderr:.6f}", s.test_n,
                         s.test_source, s.params, r.budget_macs, s.macs, "x".join(map(str, s.input_shape)), s.out])
    return buffer.getvalue()
