"""Graceful stop on Ctrl-C (SIGINT) and on SIGTERM, the signal batch schedulers and ``timeout`` send.

The first signal sets a flag that long-running loops (search, train) poll after every step: they finish or abandon
the step, record why they stopped and write their outputs. A second signal of either kind aborts at once with
:class:`Aborted` (a :class:`KeyboardInterrupt`). The exit code a command returns after a graceful stop, or after an
abort, is ``128 + signal number`` of the signal that stopped it (130 for SIGINT, 143 for SIGTERM), the shell's
convention.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["StopFlag", "SIGNAL_NAMES", "Aborted", "Stopped"]

#: The signals handled, with the words used in messages and trial records.
SIGNAL_NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class Aborted(KeyboardInterrupt):
    """A second signal: stop at once. ``signum`` is that signal; the command exits ``128 + signum``."""

    def __init__(self, signum: int):
        super().__init__(f"aborted by a second {SIGNAL_NAMES.get(signum, f'signal {signum}')}")
        self.signum = signum


class Stopped(Exception):
    """A long step that cannot finish "the current step" soon (a latency table of hundreds of op measurements) polls
    the flag between two units of work, keeps what it did, and raises this. The command then ends as a stopped
    search does: one line on stderr (``nascomp CMD: interrupted by SIGTERM: <message>``) and exit code
    ``128 + signum``.

    Args:
        signum: The signal that asked for the stop.
        message: What was stopped, what was kept and how to resume.
    """

    def __init__(self, signum: int, message: str):
        super().__init__(f"interrupted by {SIGNAL_NAMES.get(signum, f'signal {signum}')}: {message}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """``128 + signum`` (130 SIGINT, 143 SIGTERM)."""
        return 128 + int(self.signum)


class StopFlag:
    """A context manager that turns the first SIGINT or SIGTERM into a polled flag.

    Handlers are installed only in the main thread (Python delivers signals there) and restored on exit.

    Args:
        on_first: Called once with a one-line message when the first signal arrives (e.g. a progress note).

    Attributes:
        signum: The first signal received, or ``None``.

    Example:
        >>> with StopFlag() as stop:
        ...     for step in range(3):
        ...         if stop.set:
        ...             break
        >>> stop.set, stop.exit_code
        (False, 0)
    """

    def __init__(self, on_first: Callable[[str], None] | None = None):
        self.signum: int | None = None
        self._on_first = on_first
        self._previous: dict[int, object] = {}

    @property
    def set(self) -> bool:
        """True once a stop was asked for."""
        return self.signum is not None

    @property
    def reason(self) -> str:
        """``"interrupted by SIGTERM"``, ``"interrupted by Ctrl-C (SIGINT)"``, or ``""`` when not stopped."""
        return f"interrupted by {SIGNAL_NAMES[self.signum]}" if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """``128 + signum`` after a stop (130 SIGINT, 143 SIGTERM), else 0."""
        return 128 + int(self.signum) if self.signum is not None else 0

    def check(self, message: str | Callable[[], str]) -> None:
        """Raise :class:`Stopped` with ``message`` (or what it returns) once a stop was asked for; else nothing."""
        if self.signum is not None:
            raise Stopped(self.signum, message() if callable(message) else message)

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask for a stop as if ``signum`` had arrived (tests, or a caller's own time limit)."""
        self._handle(signum, None)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Aborted(signum)
        self.signum = signum
        if self._on_first is not None:
            self._on_first(f"{SIGNAL_NAMES.get(signum, f'signal {signum}')}: stopping after the current step and "
                           f"saving (send it again to abort at once)")

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
