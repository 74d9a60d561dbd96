"""Progress of a training run: rich progress bars with ETA on a terminal, or one plain line per epoch
(``--no-progress``, or off a terminal: there a rich bar cannot redraw itself and would leave a blank line)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

__all__ = ["TrainProgress"]


class TrainProgress:
    """Two bars (the whole run and the current epoch, each with its ETA), or none with ``bars=False`` or when
    ``console`` is not a terminal (a log file, a pipe, CI).

    Use as a context manager; ``console`` is where epoch lines and messages go.
    """

    def __init__(self, console: Console, *, bars: bool, epochs: int, steps_per_epoch: int, start_epoch: int):
        self.console = console
        self.bars = bars and console.is_terminal
        self.steps_per_epoch = steps_per_epoch
        self._progress: Progress | None = None
        self._run = self._epoch = None
        self._epochs, self._start = epochs, start_epoch

    def __enter__(self) -> "TrainProgress":
        if self.bars:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self._progress.__enter__()
            self._run = self._progress.add_task("run", total=self._epochs * self.steps_per_epoch,
                                                completed=self._start * self.steps_per_epoch)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start_epoch(self, epoch: int) -> None:
        if self._progress is not None:
            if self._epoch is not None:
                self._progress.remove_task(self._epoch)
            self._epoch = self._progress.add_task(f"epoch {epoch}/{self._epochs}", total=self.steps_per_epoch)

    def step(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._epoch)
            self._progress.advance(self._run)

    def epoch_done(self, row: dict) -> None:
        self.console.print(
            f"epoch {row['epoch']}/{self._epochs}: lr {row['lr']:.4g}, train loss {row['train_loss']:.4f}, "
            f"val loss {row['val_loss']:.4f}, val accuracy {100 * row['val_accuracy']:.2f} %, "
            f"{row['seconds']:.1f} s, {row['images_per_second']:.0f} images/s", highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)
