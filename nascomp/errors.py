"""Exception types raised by nascomp.

Every error a user can cause derives from :class:`NascompError`; the CLI turns it into one line on stderr and
exit code 2. Messages say where (file:line, node id), what was found, what was expected, and the fix when it is
obvious.
"""

from __future__ import annotations

__all__ = ["NascompError", "SpecError", "UnknownNetError", "BudgetError", "DataError", "SearchError", "RegistryError", "DiskFullError"]


class NascompError(Exception):
    """Base class of every user-facing nascomp error (the CLI exits 2 on these, without a traceback)."""


class SpecError(NascompError, ValueError):
    """An architecture spec, block file or search space is invalid.

    Attributes:
        file: The file the error is in, or ``None`` for text given inline.
        line: 1-based line number, or ``None`` when unknown.
        node: The qualified node id (``layer1.0.conv2``), or ``None``.
        detail: The message without the location prefix.
    """

    def __init__(self, detail: str, *, file: str | None = None, line: int | None = None, node: str | None = None):
        self.detail = detail
        self.file = file
        self.line = line
        self.node = node
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file) + (f":{self.line}" if self.line is not None else "")
        elif self.line is not None:
            where = f"<text>:{self.line}"
        parts = []
        if where:
            parts.append(where)
        if self.node:
            parts.append(f"node '{self.node}'")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.detail}" if prefix else self.detail

    def located(self, *, file: str | None = None, line: int | None = None, node: str | None = None) -> "SpecError":
        """Return a copy with missing location fields filled in (existing ones win)."""
        return SpecError(
            self.detail,
            file=self.file if self.file is not None else file,
            line=self.line if self.line is not None else line,
            node=self.node if self.node is not None else node,
        )


class UnknownNetError(SpecError):
    """A name given for a net is none of a spec file, YAML text or a zoo net (:func:`nascomp.load_spec`).

    A caller that accepts more kinds of name (``nascomp scale`` takes a search-space point ``SPACE[:POINT]``)
    catches this type, never the message text, and adds its own kinds to the message.
    """


class BudgetError(NascompError, ValueError):
    """A compute budget string cannot be parsed, or no architecture of a space fits the budget."""


class DataError(NascompError, ValueError):
    """A data set argument is malformed, or its folder is missing or malformed."""


class SearchError(NascompError, ValueError):
    """A search recipe, study or storage argument is invalid."""


class RegistryError(NascompError, KeyError):
    """A registry lookup failed (unknown name) or a name was registered twice."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DiskFullError(NascompError):
    """A file could not be written because its disk or the user's quota is full.

    Attributes:
        path: The file being written.
        needed_bytes: About how many bytes it needed, or ``None`` when unknown.
    """

    def __init__(self, message: str, *, path: str, needed_bytes: int | None = None):
        super().__init__(message)
        self.path = path
        self.needed_bytes = needed_bytes
