"""Progress of long work (a latency table of hundreds of op measurements): a rich bar on a terminal, a few plain
lines elsewhere.

Off a terminal (a log file, a pipe, CI) a rich live bar cannot redraw itself: a transient one leaves a blank line
each time it closes (47 of them before one error line, on a search that predicted 47 points), and a lasting one
prints its last frame. So the bar is drawn only when the stream it would be drawn on (stderr) is a terminal;
otherwise :class:`WorkProgress` prints plain lines, at most one every ``interval_s`` seconds and one when a task
that printed ends, on stdout by default, so that stderr holds nothing but an error line and a log shows that the
work goes on::

    latency table (cpu, batch 1, 1 thread, float32, channels-last): 0 of 212 operator configurations measured (0 s)
    latency table (cpu, batch 1, 1 thread, float32, channels-last): 40 of 212 operator configurations measured (20 s)

A bottom-layer helper (like :mod:`nascomp._console`): the hardware package, training and the CLI use it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console

__all__ = ["WorkProgress", "format_elapsed"]

#: Seconds between two plain progress lines (at most one per interval, plus the line that closes a task).
LINE_INTERVAL_S = 20.0


def format_elapsed(seconds: float) -> str:
    """``70 -> '1 min 10 s'``; ``40 -> '40 s'``; ``3720 -> '1 h 2 min'``.

    Example:
        >>> format_elapsed(70), format_elapsed(4.4), format_elapsed(3720)
        ('1 min 10 s', '4 s', '1 h 2 min')
    """
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class WorkProgress:
    """Shows that long work goes on: a transient rich bar on a terminal, else throttled plain lines.

    One object serves many tasks (one per :meth:`task`) and throttles their lines together: a search that predicts
    fifty points, each with a few missing op configurations, prints a line every ``interval_s`` seconds, not fifty.
    A task prints its first line when it starts (if the last line is ``interval_s`` old, or none was printed),
    then at most one per ``interval_s``, and a closing line if it printed any (also when it ends by an exception:
    the count then says how far it got).

    Args:
        bar_console: Draw bars on this console (a terminal). ``None``: no bar.
        lines: Print plain lines to this stream (flushed at once). ``None``: no lines. A bar wins when both are set.
        interval_s: Least seconds between two plain lines.
        clock: Seconds, monotonic (tests pass a fake).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> progress = WorkProgress(lines=out)
        >>> with progress.task("latency table", total=2, items="operator configurations") as advance:
        ...     advance(); advance()
        >>> out.getvalue().splitlines()[-1]
        'latency table: 2 of 2 operator configurations measured (0 s)'
    """

    def __init__(self, *, bar_console: Console | None = None, lines: TextIO | None = None,
                 interval_s: float = LINE_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.bar_console = bar_console
        self.lines = None if bar_console is not None else lines
        self.interval_s = float(interval_s)
        self.clock = clock
        self._last_line: float | None = None

    @classmethod
    def for_streams(cls, *, lines_to: TextIO | None = None, interval_s: float = LINE_INTERVAL_S) -> "WorkProgress":
        """A bar on stderr when stderr is a terminal; otherwise plain lines on ``lines_to`` (default stdout)."""
        if sys.stderr.isatty():
            return cls(bar_console=Console(stderr=True))
        return cls(lines=lines_to if lines_to is not None else sys.stdout, interval_s=interval_s)

    @classmethod
    def quiet(cls) -> "WorkProgress":
        """Shows nothing."""
        return cls()

    def _print(self, text: str, now: float) -> None:
        assert self.lines is not None
        print(text, file=self.lines, flush=True)
        self._last_line = now

    def _due(self, now: float) -> bool:
        return self._last_line is None or now - self._last_line >= self.interval_s

    @contextlib.contextmanager
    def task(self, description: str, *, total: int, items: str, verb: str = "measured") -> Iterator[Callable[[], None]]:
        """A task of ``total`` units; yields ``advance()``, to be called once per unit done.

        Lines read ``"{description}: {done} of {total} {items} {verb} ({elapsed})"``.
        """
        if self.bar_console is not None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            from rich.table import Column

            # the bar and the counts first: on a narrow terminal the description gives way (an ellipsis), not they
            text = TextColumn(f"{description}: {items} {verb}".replace("[", "\\["),
                              table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"))
            columns = (BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), text)
            with Progress(*columns, console=self.bar_console, transient=True, expand=True) as bar:
                bar_task = bar.add_task("", total=total)
                yield lambda: bar.advance(bar_task)
            return
        if self.lines is None:
            yield lambda: None
            return
        started = self.clock()
        done = 0
        printed = False

        def line(now: float) -> None:
            nonlocal printed
            self._print(f"{description}: {done} of {total} {items} {verb} ({format_elapsed(now - started)})", now)
            printed = True

        def advance() -> None:
            nonlocal done
            done += 1
            now = self.clock()
            if self._due(now) and done < total:
                line(now)

        if self._due(started):
            line(started)
        try:
            yield advance
        finally:
            if printed:
                line(self.clock())
