"""Usage errors of the ``nascomp`` command: ``--version``, ``python -m nascomp``, negative numbers given as flag
values and every argparse error as one line with exit code 2 (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from tests._cli import assert_one_line_error, run_cli


def test_version_matches_the_installed_distribution():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nascomp {metadata.version('nascomp')}"


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run([sys.executable, "-m", "nascomp", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nascomp {metadata.version('nascomp')}"
    bad = subprocess.run([sys.executable, "-m", "nascomp", "profile"], capture_output=True, text=True, timeout=120)
    assert_one_line_error(bad, "SPEC")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("search", "--budget", "-4G"), ("budget '-4G' is negative",)),
        (("search", "--budget", "-.5G"), ("budget '-.5G' is negative",)),
        (("search", "--epochs", "-1"), ("epochs", "-1")),
        (("search", "--trials", "-3"), ("trials must be at least 1, got -3",)),
        (("draw", "resnet18", "--depth", "-2"), ("--depth", "-2")),
    ],
)
def test_negative_flag_values_are_read_and_refused(tmp_path, args, fragments):
    result = run_cli(*args, "--out" if args[0] == "search" else "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("search", "--budget"), "argument --budget: expected one argument"),
        (("search", "--trials", "many"), "invalid int value: 'many'"),
        (("profile",), "required: SPEC"),
        (("nonsense",), "invalid choice: 'nonsense'"),
        (("build", "resnet18", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
        ((), "required: COMMAND"),
    ],
)
def test_every_usage_error_is_one_line(tmp_path, args, fragment):
    assert_one_line_error(run_cli(*args, cwd=tmp_path), fragment, "--help")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("profile", "resnet18", "--set", "num_classes=ten"),
         ("--set num_classes=ten: ", "'out_features' must be an integer, found string 'ten'")),
        (("build", "resnet18", "--set", "num_classes=-3"), ("--set num_classes=-3: ", "'out_features' must be >= 1")),
        (("profile", "resnet18", "--input", "3x64x64", "--set", "num_clases=3"),
         ("--set num_clases=3: ", "did you mean 'num_classes'?")),
    ],
)
def test_a_set_error_names_the_set_it_came_from(tmp_path, args, fragments):
    assert_one_line_error(run_cli(*args, cwd=tmp_path), *fragments)


def test_an_error_not_caused_by_a_set_does_not_blame_it(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ninput_shape: [3, 8, 8]\nparams: {n: 4}\nnodes:\n"
                                       "  - {id: c, type: conv2d, out_channels: 0, kernel_size: 3}\n")
    line = assert_one_line_error(run_cli("profile", "bad.yaml", "--set", "n=5", cwd=tmp_path), "'out_channels'")
    assert "--set" not in line


def test_macs_are_printed_by_one_formatter_in_every_command(tmp_path):
    """alexnet (torchvision "GFLOPS" 0.714) reads the same in build, profile and zoo, never as "0.71 GMACs" in one
    and "714 MMACs" in another."""
    import json

    from tests._zoo_refs import REFERENCE_JSON

    reference = json.loads(REFERENCE_JSON.read_text())["nets"]["alexnet"]
    macs = reference["macs"]  # torchvision's AlexNet, FlopCounterMode / 2
    assert macs == 714_188_480
    build = run_cli("build", "alexnet", cwd=tmp_path)
    profile = run_cli("profile", "alexnet", cwd=tmp_path)
    zoo = run_cli("zoo", "--family", "AlexNet", cwd=tmp_path, env={"COLUMNS": "250"})
    assert f"{macs:,} MACs = 714 MMACs" in build.stdout
    assert "alexnet @ 3x224x224: 714 MMACs" in profile.stdout
    assert "714.2 MMACs" in zoo.stdout
    for out in (build.stdout, profile.stdout, zoo.stdout):
        assert "GMACs" not in out


_IMPORTS_AFTER = """
import contextlib, io, json, sys
from nascomp.cli.main import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                  "heavy": sorted(m for m in ("torch", "numpy", "optuna", "sqlalchemy") if m in sys.modules)}))
"""


@pytest.mark.parametrize("args", [
    ["--help"], [], ["bogus"], ["build"], ["profile", "--no-such-flag"], ["train", "x.yaml", "--epochs", "many"],
    *[[command, "--help"] for command in ("build", "profile", "zoo", "blocks", "export", "spec", "search", "train",
                                          "report", "scale")],
])
def test_help_and_usage_errors_do_not_import_torch(args):
    """Issue 22: `nascomp --help` took 2-7 s because it imported torch; help and argparse's usage errors must not.
    (`draw --help` lists the picture formats of nascomp.viz.draw, which loads torch.)"""
    import json

    result = subprocess.run([sys.executable, "-c", _IMPORTS_AFTER, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["heavy"] == [], report
    if args and args[-1] == "--help":
        assert report["code"] == 0 and "usage: nascomp" in report["out"]
    else:
        assert report["code"] == 2 and len(report["err"].strip().splitlines()) == 1, report


def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path):
    """`nascomp ... | head -1`: the closed pipe ends the command without a traceback (exit 1, as rich's Console and
    Python's docs do it)."""
    from tests._cli import _command

    for args in (["build", "resnet50"], ["profile", "resnet18", "--memory", "--json"]):
        proc = subprocess.Popen([*_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader leaves before the first line: every write of the command meets EPIPE
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 1, err
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_an_unusable_latency_cache_folder_is_refused_before_any_op_is_measured(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("profile", "resnet18", "--input", "3x32x32", "--no-measure", "--latency-cache", str(blocker / "x"))
    assert_one_line_error(result, "cannot keep the latency lookup table in", "is a file, not a folder", "--latency-cache")
