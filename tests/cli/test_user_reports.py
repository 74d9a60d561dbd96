"""Problems a new user hit on a fresh clone, each now a one-line error (exit 2) that writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import nascomp
from tests._cli import assert_one_line_error, run_cli

TINY = "name: t\ninput_shape: [3, 16, 16]\nnodes:\n  - {id: c, type: conv2d, out_channels: 4, kernel_size: 3}\n"


@pytest.mark.parametrize("node_id, what", [("forward", "an attribute of torch.nn.Module"), ("training", "an attribute"),
                                           ("kind", "an attribute"), ("class", "a Python keyword"), ("None", "a Python keyword")])
def test_ids_that_cannot_name_a_module_are_refused_by_profile_and_build(node_id: str, what: str) -> None:
    text = TINY + f"  - {{id: '{node_id}', type: relu}}\n"
    for fn in (nascomp.profile, nascomp.build):
        with pytest.raises(nascomp.SpecError, match=rf"<text>:5: node '{node_id}': id '{node_id}' is {what}"):
            fn(text)


def test_range_error_shows_the_value_as_written() -> None:
    with pytest.raises(nascomp.SpecError, match=r"'stride' must be >= 1, found int 0$"):
        nascomp.profile(TINY.replace("kernel_size: 3}", "kernel_size: 3, stride: 0}"))


def test_export_to_a_folder_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(TINY)
    folder = tmp_path / "a folder"
    folder.mkdir()
    for flag in ("--onnx", "--torchscript"):
        assert_one_line_error(run_cli("export", str(spec), flag, str(folder)), "it is a folder")
    assert list(folder.iterdir()) == []


def test_report_on_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nope.db"
    result = run_cli("report", "--storage", f"sqlite:///{db}", "--study-name", "x", cwd=tmp_path)
    assert_one_line_error(result, "no study storage", "does not exist")
    assert not db.exists()
    assert not (tmp_path / "runs").exists()


def test_search_out_pointing_at_a_file_fails_before_the_census(tmp_path: Path) -> None:
    target = tmp_path / "empty.yaml"
    target.write_text("")
    result = run_cli("search", "--budget", "4GFLOPs", "--out", str(target), "--no-progress", cwd=tmp_path)
    assert_one_line_error(result, "is a file")
    assert "census" not in result.stdout.lower() and "fit" not in result.stdout.lower()
    assert target.read_text() == ""
