"""The parser works without torch: its list of reserved module attribute names is static, checked here against
the installed torch, and the parser module imports no torch."""

from __future__ import annotations

import ast
from pathlib import Path

from torch import fx, nn

from nascomp.spec import parse
from nascomp.spec._module_attrs import MODULE_ATTRIBUTES


def test_static_attribute_names_cover_torch_module_and_graph_module() -> None:
    missing = (set(dir(nn.Module())) | set(dir(fx.GraphModule))) - MODULE_ATTRIBUTES
    assert not missing, f"add to nascomp/spec/_module_attrs.py: {sorted(missing)}"


def test_the_parser_does_not_import_torch() -> None:
    tree = ast.parse(Path(parse.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "nascomp.spec._module_attrs" in imported  # the walk sees the imports
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]
