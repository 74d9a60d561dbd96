"""``${...}`` expressions in specs, evaluated with the ``simpleeval`` library (never Python's ``eval``).

A YAML string that is exactly ``${expr}`` is an expression; anything else is a literal. Parsed expressions are
cached, so evaluating the same text again costs only the tree walk.
"""

from __future__ import annotations

import ast
import math
from functools import lru_cache
from typing import Any

import simpleeval

__all__ = ["is_expr", "make_divisible", "ExprError", "Evaluator", "FUNCTIONS"]


class ExprError(ValueError):
    """An expression is malformed or fails to evaluate (the caller adds file, line and node)."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.0) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``).

    If the result falls below ``round_limit * value``, one ``divisor`` is added. This is timm's
    ``make_divisible`` (``timm/layers/helpers.py``), itself from the MobileNet reference code; timm's SE modules
    call it with ``round_limit=0``, which is the default here.

    Example:
        >>> make_divisible(64 / 16, 8)
        8
        >>> make_divisible(256 / 16, 8)
        16
    """
    divisor = int(divisor)
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return int(new_value)


FUNCTIONS: dict[str, Any] = {
    "int": int,
    "float": float,
    "round": round,
    "min": min,
    "max": max,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": make_divisible,
}


def is_expr(value: Any) -> bool:
    """True when ``value`` is a string of the form ``${...}``."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


@lru_cache(maxsize=8192)
def _parse(text: str) -> ast.AST:
    try:
        return simpleeval.SimpleEval.parse(text)
    except SyntaxError as exc:
        raise ExprError(f"malformed expression '${{{text}}}': {exc.msg}") from None


@lru_cache(maxsize=8192)
def _names_used(text: str) -> tuple[str, ...]:
    """The variable names an expression reads (its result depends on nothing else)."""
    return tuple(sorted({n.id for n in ast.walk(_parse(text)) if isinstance(n, ast.Name) and n.id not in FUNCTIONS}))


_MISSING = object()
_MAX_RESULTS = 100_000


class Evaluator:
    """Evaluates ``${...}`` expressions against a mapping of names.

    One evaluator is created per expansion and reused; ``names`` is swapped per scope.
    """

    def __init__(self) -> None:
        self._eval = simpleeval.EvalWithCompoundTypes(functions=dict(FUNCTIONS), names={})
        # (text, values of the names it reads) -> result: expressions are pure, so a search re-evaluating the
        # same block parameters for thousands of candidates does each distinct evaluation once.
        self._results: dict[tuple, Any] = {}

    def evaluate(self, value: Any, names: dict[str, Any]) -> Any:
        """Evaluate ``value`` if it is an expression (recursively inside lists); return literals unchanged.

        Raises:
            ExprError: the expression is malformed, names an unknown variable or function, or fails.
        """
        if value.__class__ is str:
            if not (value.startswith("${") and value.endswith("}")):
                return value
            text = value[2:-1].strip()
            if not text:
                raise ExprError("empty expression '${}'")
            tree = _parse(text)
            try:
                key = (text, *(names.get(n, _MISSING) for n in _names_used(text)))
                hit = self._results.get(key, _MISSING)
            except TypeError:  # an unhashable value (a list): evaluate without the memo
                key, hit = None, _MISSING
            if hit is not _MISSING:
                return hit
            self._eval.names = names
            try:
                result = self._eval.eval(text, previously_parsed=tree)
                if key is not None:
                    if len(self._results) > _MAX_RESULTS:
                        self._results.clear()
                    self._results[key] = result
                return result
            except simpleeval.NameNotDefined as exc:
                valid = ", ".join(sorted(names)) or "none"
                raise ExprError(f"unknown name '{exc.name}' in '{value}' (names in scope: {valid})") from None
            except simpleeval.FunctionNotDefined as exc:
                raise ExprError(
                    f"unknown function '{exc.func_name}' in '{value}' (functions: {', '.join(sorted(FUNCTIONS))})"
                ) from None
            except simpleeval.InvalidExpression as exc:
                raise ExprError(f"cannot evaluate '{value}': {exc}") from None
            except Exception as exc:  # ZeroDivisionError, TypeError... from the user's arithmetic
                raise ExprError(f"cannot evaluate '{value}': {type(exc).__name__}: {exc}") from None
        if isinstance(value, list):
            return [self.evaluate(v, names) for v in value]
        return value
