"""Typed parameter declarations, shared by primitive ops and YAML blocks.

A declaration says a parameter's type, default, range and choices; :meth:`ParamDecl.check` turns a value read
from YAML (or computed by an expression) into the checked Python value, or raises :class:`ParamError` with a
message that says what was found and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParamDecl", "ParamError", "REQUIRED", "UNCHECKED", "PARAM_TYPES"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
#: The ``checked_default`` of a declaration whose default must be checked where it is used (an expression, or a
#: literal that failed its check and is reported where the declaration is parsed).
UNCHECKED: Any = object()
PARAM_TYPES = ("int", "float", "bool", "str", "int_or_pair", "list", "any")
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"}


class ParamError(ValueError):
    """A parameter value has the wrong type or is out of range (the caller adds file, line and node)."""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"bool {str(value).lower()}"
    if isinstance(value, str):
        return f"string '{value}'"
    if isinstance(value, (list, tuple)):
        return f"list {list(value)}"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value}"


@dataclass(frozen=True)
class ParamDecl:
    """One declared parameter.

    Attributes:
        name: Parameter name (torch's name where one exists: ``out_channels``, ``kernel_size``...).
        type: One of :data:`PARAM_TYPES`.
        default: The default, or :data:`REQUIRED`.
        min: Smallest allowed value (numbers; each element of a pair), or ``None``.
        max: Largest allowed value, or ``None``.
        choices: Allowed values, or ``None``.
        doc: One line of documentation.
    """

    name: str
    type: str = "any"
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    doc: str = ""
    nullable: bool = field(default=False)
    checked_default: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check a literal default once (pairs normalised), so expansion can use it without re-checking."""
        value = UNCHECKED
        if self.default is not REQUIRED and not (isinstance(self.default, str) and self.default.startswith("${")):
            try:
                value = self.check(self.default)
            except ParamError:
                value = UNCHECKED  # reported where the declaration is parsed
        object.__setattr__(self, "checked_default", value)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """Return ``value`` checked and normalised (pairs become tuples, ints become floats for ``float``).

        Raises:
            ParamError: wrong type, out of range, or not one of the choices.
        """
        if value is None and (self.nullable or self.default is None):
            return None
        given = value
        t = self.type
        expected = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "int_or_pair": "an integer or a list of two integers",
            "list": "a list",
        }.get(t)
        ok = True
        if t == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok and isinstance(value, float) and value.is_integer():
                raise ParamError(f"'{self.name}' must be an integer, found float {value}; write {int(value)}")
        elif t == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                value = float(value)
        elif t == "bool":
            ok = isinstance(value, bool)
            if not ok and isinstance(value, str) and value in _YAML11_BOOLS:
                raise ParamError(
                    f"'{self.name}' must be true or false, found string '{value}' (YAML 1.2 reads yes/no/on/off as "
                    f"strings; write true or false)"
                )
        elif t == "str":
            ok = isinstance(value, str)
        elif t == "int_or_pair":
            if isinstance(value, int) and not isinstance(value, bool):
                value = (value, value)
            elif (
                isinstance(value, (list, tuple))
                and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                value = (int(value[0]), int(value[1]))
            else:
                ok = False
        elif t == "list":
            ok = isinstance(value, (list, tuple))
            if ok:
                value = list(value)
        if not ok:
            if isinstance(value, str) and value.startswith("$") and not value.startswith("${"):
                raise ParamError(f"'{self.name}' must be {expected}, found string '{value}'; expressions are written ${{...}}")
            if t == "float" and isinstance(value, str):
                raise ParamError(f"'{self.name}' must be a number, found string '{value}'")
            raise ParamError(f"'{self.name}' must be {expected}, found {_describe(value)}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(
                f"'{self.name}' must be one of {', '.join(map(str, self.choices))}, found {_describe(value)}"
            )
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                if self.min is not None and item < self.min:
                    raise ParamError(f"'{self.name}' must be >= {self.min:g}, found {_describe(given)}")
                if self.max is not None and item > self.max:
                    raise ParamError(f"'{self.name}' must be <= {self.max:g}, found {_describe(given)}")
        return value
