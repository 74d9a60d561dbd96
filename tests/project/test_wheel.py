"""The built wheel carries every YAML library, and `nascomp` works from any directory when installed from it.

Builds the wheel with pip (PEP 517, hatchling), installs it without dependencies into a temporary target folder
(torch and the rest come from the test environment), and runs it from an unrelated working directory, so nothing
can be found through the source checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (path,) = out.glob("nascomp-*.whl")
    return path


def test_wheel_contains_every_library(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("blocks", "zoo", "search_spaces", "studies"):
        shipped = {Path(n).name for n in names if n.startswith(f"nascomp/library/{kind}/") and n.endswith(".yaml")}
        in_repo = {p.name for p in (ROOT / kind).glob("*.yaml")}
        assert in_repo, kind
        assert shipped == in_repo, f"{kind}: missing from the wheel: {sorted(in_repo - shipped)}"
    assert "nascomp/cli/main.py" in names


def test_wheel_contains_every_module_of_every_sub_package(wheel: Path) -> None:
    """Sub-packages (nascomp/search/space/, nascomp/search/trials/, ...) ship with all their modules."""
    names = set(zipfile.ZipFile(wheel).namelist())
    in_repo = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nascomp").rglob("*.py")}
    assert {"nascomp/search/trials/trial_loop.py", "nascomp/search/space/__init__.py"} <= in_repo
    assert in_repo <= names, f"missing from the wheel: {sorted(in_repo - names)}"


def test_installed_wheel_runs_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site packages"  # a path with a space
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    elsewhere = tmp_path / "some other dir"
    elsewhere.mkdir()
    spec = elsewhere / "net.yaml"
    spec.write_text(
        "name: tiny\ninput_shape: [3, 32, 32]\nnodes:\n"
        "  - {id: stem, type: conv_bn_act, out_channels: 8, padding: 1}\n"
        "  - {id: block, type: bottleneck, planes: 4, se_reduction: 4}\n"
        "  - {id: pool, type: global_pool, keepdim: false}\n"
        "  - {id: fc, type: linear, out_features: 10}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import nascomp, sys; "
        "assert nascomp.__file__.startswith(sys.argv[1]), nascomp.__file__; "
        "from nascomp.cli.main import main; sys.exit(main(['build', 'net.yaml']) or main(['profile', 'resnet50']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(target)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "built tiny:" in result.stdout and "output (N, 10)" in result.stdout  # the user's spec, built
    assert "resnet50 @ 3x224x224: 4.09 GMACs" in result.stdout  # the zoo ships inside the wheel
