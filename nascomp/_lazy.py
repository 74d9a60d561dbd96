"""Package attributes imported on first use (PEP 562), so that importing a package does not load torch.

``nascomp --help`` and every usage error must answer at once; importing torch takes 2-7 s on a busy machine. A
package ``__init__`` lists what it re-exports and from where, and this module supplies the ``__getattr__`` and
``__dir__`` that import each on first access (the names stay in ``__all__`` for ``from ... import`` and the docs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` (a module path) on first use.

    Args:
        package: The package's ``__name__``.
        exports: Attribute name -> module that defines it.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"profile": "nascomp.cost.profile"})
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        module = importlib.import_module(package)
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(module, name, value)  # later lookups find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *exports})

    return __getattr__, __dir__
