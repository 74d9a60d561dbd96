"""The ``nascomp`` command line through a subprocess (the installed console script), run from a folder whose path has
spaces: help, ``build`` tables, ``profile`` totals naming the MACs convention, ``--input`` and ``--set``.

Reference figures come from torchvision (``resnet18``: 11,689,512 params, "GFLOPS" 1.81 on its model card;
``resnet50``: 25,557,032 params, 4.09) or are measured here on torchvision's model with ``FlopCounterMode``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from tests._contract import flop_counter_macs

NASCOMP = str(Path(sys.executable).parent / "nascomp")


@pytest.fixture(scope="module")
def cwd(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "some folder"
    folder.mkdir()
    return folder


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([NASCOMP, *args], capture_output=True, text=True, cwd=cwd, timeout=180,
                          env={**os.environ, "COLUMNS": "200"})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _torchvision_figures(name: str, shape: tuple[int, int, int], **kwargs) -> tuple[int, int]:
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(**kwargs).eval()
        macs = flop_counter_macs(model, torch.empty(1, *shape))
    return macs, sum(p.numel() for p in model.parameters())


def test_help(cwd):
    proc = run(cwd, "--help")
    assert proc.returncode == 0
    for command in ("build", "profile"):
        assert re.search(rf"^\s+{command}\s", proc.stdout, re.M), proc.stdout
    assert "usage: nascomp" in proc.stdout


@pytest.mark.parametrize("command", ["build", "profile"])
def test_command_help(cwd, command):
    proc = run(cwd, command, "--help")
    assert proc.returncode == 0
    assert f"usage: nascomp {command}" in proc.stdout
    for option in ("--input", "--set", "SPEC"):
        assert option in proc.stdout
    if command == "profile":
        assert "FlopCounterMode" in proc.stdout  # the convention is stated in the help


def test_no_command_is_a_usage_error(cwd):
    proc = run(cwd)
    assert proc.returncode == 2 and proc.stderr.startswith("nascomp: error: the following arguments are required: COMMAND")
    assert len(proc.stderr.strip().splitlines()) == 1  # one line, like every usage error


def test_build_resnet18_table(cwd):
    proc = run(cwd, "build", "resnet18")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for header in ("node", "type", "output shape", "params"):
        assert header in out
    rows = {
        "conv1": ("conv2d", "(64, 112, 112)", "9,408"),  # 64 * 3 * 7 * 7
        "maxpool": ("max_pool2d", "(64, 56, 56)", "0"),
        "layer4": ("basic_block", "(512, 7, 7)", None),
        "fc": ("linear", "(1000,)", "513,000"),  # 512 * 1000 + 1000
    }
    for node, (kind, shape, params) in rows.items():
        line = next((ln for ln in out.splitlines() if re.search(rf"[│|]\s*{node}\s", ln)), None)
        assert line is not None, f"no row for {node}:\n{out}"
        assert kind in line and shape in line
        if params is not None:
            assert re.search(rf"\s{re.escape(params)}\s", line), line
    assert "11,689,512" in out  # torchvision resnet18's parameter count
    assert "1,814,073,344 MACs" in out  # FlopCounterMode / 2 on torchvision resnet18 (canonical_nets.json)


def test_profile_resnet50(cwd):
    proc = run(cwd, "profile", "resnet50")
    assert proc.returncode == 0, proc.stderr
    assert "4.09 GMACs" in proc.stdout
    assert "25.56 M params" in proc.stdout
    assert "torchvision's \"GFLOPS\"" in proc.stdout and "FlopCounterMode" in proc.stdout  # names the convention
    assert "4,089,184,256" in proc.stdout


def test_profile_input_and_set(cwd):
    macs, params = _torchvision_figures("resnet50", (3, 160, 160), num_classes=10)
    proc = run(cwd, "profile", "resnet50", "--input", "3x160x160", "--set", "num_classes=10")
    assert proc.returncode == 0, proc.stderr
    assert "resnet50 @ 3x160x160" in proc.stdout
    assert f"{macs:,}" in proc.stdout and f"{params:,}" in proc.stdout
    assert "(10,)" in proc.stdout


def test_build_input_non_square(cwd):
    proc = run(cwd, "build", "resnet18", "--input", "3x160x224", "--set", "num_classes=7")
    assert proc.returncode == 0, proc.stderr
    assert "(512, 5, 7)" in proc.stdout  # 160 / 32, 224 / 32
    _, params = _torchvision_figures("resnet18", (3, 160, 224), num_classes=7)
    assert f"{params:,} params" in proc.stdout


def test_profile_per_node(cwd):
    proc = run(cwd, "profile", "resnet18", "--per-node")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if re.search(r"[│|]\s*conv1\s", ln))
    assert "118,013,952" in line  # 64 * 3 * 49 * 112 * 112


def test_build_spec_file_from_another_directory(cwd, tmp_path):
    spec = tmp_path / "specs here" / "tiny net.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "name: tiny\ninput_shape: [3, 32, 32]\nparams: {num_classes: 4}\nnodes:\n"
        "  - {id: c, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}\n"
        "  - {id: p, type: global_pool, keepdim: false}\n"
        "  - {id: fc, type: linear, out_features: \"${num_classes}\"}\n"
    )
    proc = run(cwd, "build", str(spec), "--set", "num_classes=5")
    assert proc.returncode == 0, proc.stderr
    assert "(8, 16, 16)" in proc.stdout and "(5,)" in proc.stdout
    assert f"{8 * 27 + 8 + 8 * 5 + 5:,} params" in proc.stdout
