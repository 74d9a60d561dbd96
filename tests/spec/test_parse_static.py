"""The parser works without torch: its list of reserved module attribute names is static, checked here against
the installed torch, and the parser module imports no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from nascomp.spec import parse
from nascomp.spec._module_attrs import MODULE_ATTRIBUTES


def test_static_attribute_names_cover_torch_module_and_graph_module() -> None:
    # In a fresh interpreter: torch.compile (run by other tests in this process) patches nn.Module with markers.
    code = "from torch import fx, nn; print(sorted(set(dir(nn.Module())) | set(dir(fx.GraphModule))))"
    names = ast.literal_eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert {"forward", "state_dict", "graph", "code"} <= set(names)  # the listing is real
    missing = set(names) - MODULE_ATTRIBUTES
    assert not missing, f"add to nascomp/spec/_module_attrs.py: {sorted(missing)}"


def test_the_parser_does_not_import_torch() -> None:
    tree = ast.parse(Path(parse.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "nascomp.spec._module_attrs" in imported  # the walk sees the imports
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]
