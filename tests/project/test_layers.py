"""Packages import only downward: spec < ops < graph < cost (and hardware) < data < train < search < viz/export < cli.

Every ``import`` and ``from ... import`` of a nascomp module in ``nascomp/`` is checked, at module level and inside
functions alike (a deferred import is still a dependency). The private top-level helpers (``nascomp/_*.py``,
``errors.py``, ``registry.py``) are the bottom layer; the zoo (canonical spec files and their registry) sits with
``spec``, which resolves zoo names; the package's own ``__init__``/``__main__`` (lazy re-exports of the public API)
is the top. A new sub-package fails here until it is given a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nascomp

PACKAGE = Path(nascomp.__file__).parent

#: Layer of each top-level module or sub-package of ``nascomp``; an import must go to the same layer or a lower one.
LAYERS: dict[str, int] = {
    "_*": 0, "errors": 0, "registry": 0,
    "spec": 1, "zoo": 1,
    "ops": 2,
    "graph": 3,
    "cost": 4, "hardware": 4,
    "data": 5,
    "train": 6,
    "search": 7,
    "viz": 8, "export": 8,
    "cli": 9,
    "__init__": 10, "__main__": 10,
}


def layer_of(top: str) -> int | None:
    """The layer of ``nascomp.<top>`` (a module or sub-package name), or ``None`` when it has none."""
    if top.startswith("_") and top not in ("__init__", "__main__"):
        return LAYERS["_*"]
    return LAYERS.get(top)


def _module_top(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_tops(tree: ast.AST, path: Path, root: Path) -> list[tuple[int, str, str]]:
    """(line, top-level nascomp module, full dotted name) of every nascomp import in ``tree``, relative imports
    resolved; for ``from M import a`` the full name is ``M.a``."""
    package = path.relative_to(root.parent).with_suffix("").parts
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ((base,) if base else ()))
            # ``from nascomp import cli`` imports nascomp.cli; ``from nascomp.cost import scale`` is in nascomp.cost
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "nascomp":
                top = parts[1] if len(parts) > 1 else "__init__"
                if top != "__init__" and not (root / top).is_dir() and not (root / f"{top}.py").is_file():
                    top = "__init__"  # a name re-exported by the package itself
                out.append((node.lineno, top, name))
    return sorted(out)


def upward_imports(root: Path = PACKAGE) -> list[str]:
    """``file:line: <module> (layer a) imports nascomp.<top> (layer b)`` for every import that points up a layer,
    and a line for every module or sub-package without a layer."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        top = _module_top(path, root)
        own = layer_of(top)
        where = path.relative_to(root.parent)
        if own is None:
            problems.append(f"{where}: nascomp.{top} has no layer; add it to LAYERS in tests/project/test_layers.py")
            continue
        for line, target, _ in _imported_tops(ast.parse(path.read_text(encoding="utf-8"), str(path)), path, root):
            theirs = layer_of(target)
            if theirs is None:
                problems.append(f"{where}:{line}: imports nascomp.{target}, which has no layer; add it to LAYERS")
            elif theirs > own:
                problems.append(f"{where}:{line}: nascomp.{top} (layer {own}) imports nascomp.{target} "
                                f"(layer {theirs}): imports must point down (spec < ops < graph < cost < data < "
                                "train < search < viz/export < cli); move the code down or pass it in")
    return problems


def private_imports(root: Path = PACKAGE) -> list[str]:
    """``file:line: ...`` for every import of another package's private module or name (``nascomp.spec._yaml``,
    ``from nascomp.spec.params import _X``): what a package shares, it makes public. The top-level private
    helpers (``nascomp/_*.py``) are shared by design and exempt."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        top = _module_top(path, root)
        for line, target, name in _imported_tops(ast.parse(path.read_text(encoding="utf-8"), str(path)), path, root):
            private = [p for p in name.split(".")[2:] if p.startswith("_") and not p.startswith("__")]
            if target != top and private:
                problems.append(f"{path.relative_to(root.parent)}:{line}: nascomp.{top} imports {name}, private to "
                                f"nascomp.{target}; make it public there (no leading underscore) or move it")
    return problems


def test_no_import_points_up_a_layer() -> None:
    problems = upward_imports()
    assert not problems, "\n".join(problems)


def test_no_package_imports_another_packages_private_names() -> None:
    problems = private_imports()
    assert not problems, "\n".join(problems)


def test_the_checker_catches_an_upward_import_with_its_file_and_line(tmp_path: Path) -> None:
    """The checker itself, on a stand-in package: a deferred import from cost to search is reported at its line,
    a relative import resolves, and a downward one passes."""
    root = tmp_path / "nascomp"
    (root / "cost").mkdir(parents=True)
    (root / "search").mkdir()
    (root / "errors.py").write_text("")
    (root / "search" / "space.py").write_text("from nascomp.cost import scale\nfrom ..errors import SpecError\n")
    (root / "cost" / "scale.py").write_text("import os\n\n\ndef f():\n    from nascomp.search.space import x\n")
    (root / "cost" / "budget.py").write_text("from ..search import space\n")
    problems = upward_imports(root)
    assert len(problems) == 2, problems
    assert problems[0].startswith("nascomp/cost/budget.py:1: nascomp.cost (layer 4) imports nascomp.search (layer 7)")
    assert problems[1].startswith("nascomp/cost/scale.py:5: nascomp.cost (layer 4) imports nascomp.search (layer 7)")


@pytest.mark.parametrize("top, layer", [("_atomic", 0), ("errors", 0), ("spec", 1), ("cost", 4), ("hardware", 4),
                                        ("cli", 9), ("nope", None)])
def test_layer_names(top: str, layer: int | None) -> None:
    assert layer_of(top) == layer
