"""``nascomp spec``: the copy of a zoo net, a spec file or a study's best keeps the text and rebuilds to the same
params and MACs; overwriting needs --force; errors are one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import nascomp
from nascomp.cli.main import main
from nascomp.zoo import zoo_names, zoo_path
from tests._cli import assert_one_line_error, run_cli

BLOCKS = """
blocks:
  twin_conv:
    params:
      out_channels: {type: int, min: 1}
    nodes:
      - {id: a, type: conv2d, out_channels: "${out_channels}", kernel_size: 3, padding: 1}
      - {id: b, type: conv2d, out_channels: "${out_channels}", kernel_size: 3, padding: 1}
"""

USES_IMPORT = """
name: imports_blocks   # a comment that must survive the copy
input_shape: [3, 16, 16]
imports: [my_blocks.yaml]
nodes:
  - {id: body, type: twin_conv, out_channels: 4}
"""


def _spec(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["spec", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_copy_rebuilds_to_same_cost(name, tmp_path, capsys):
    out = tmp_path / "my net.yaml"
    code, stdout, _ = _spec([name, "-o", str(out)], capsys)
    assert code == 0 and "wrote" in stdout
    text = out.read_text()
    assert text.endswith(zoo_path(name).read_text())  # the original text, comments and layout kept
    assert text.startswith(f"# Copied by `nascomp spec {name}` from zoo net '{name}'.\n")
    copy, original = nascomp.profile(str(out)), nascomp.profile(name)
    assert (copy.params, copy.macs, copy.output_shape) == (original.params, original.macs, original.output_shape)


def test_stdout_and_copy_of_a_copy(tmp_path, capsys, monkeypatch):
    code, stdout, _ = _spec(["resnet18"], capsys)
    assert code == 0 and stdout.endswith(zoo_path("resnet18").read_text())
    monkeypatch.chdir(tmp_path)
    assert _spec(["resnet18", "-o", "a.yaml"], capsys)[0] == 0
    assert _spec(["a.yaml", "-o", "b.yaml"], capsys)[0] == 0
    text = Path("b.yaml").read_text()
    assert text.count("# Copied by") == 1 and text.startswith("# Copied by `nascomp spec a.yaml` from a.yaml.")


def test_study_best_by_folder_and_by_name(tmp_path, capsys, monkeypatch):
    run = tmp_path / "runs" / "my study"
    run.mkdir(parents=True)
    (run / "best.yaml").write_text(zoo_path("resnet18").read_text().replace("name: resnet18", "name: found_net"))
    monkeypatch.chdir(tmp_path)
    assert _spec([str(run), "-o", "from folder.yaml"], capsys)[0] == 0
    assert _spec(["my study", "-o", "from name.yaml"], capsys)[0] == 0
    assert "study 'my study'" in Path("from name.yaml").read_text().splitlines()[0]
    for out in ("from folder.yaml", "from name.yaml"):
        assert nascomp.profile(out).name == "found_net"
        assert nascomp.profile(out).params == nascomp.profile("resnet18").params
    code, _, err = _spec([str(tmp_path / "runs"), "-o", "x.yaml"], capsys)
    assert code == 2 and "has no best.yaml" in err


def test_overwrite_needs_force(tmp_path, capsys):
    out = tmp_path / "mine.yaml"
    out.write_text("my edits\n")
    code, _, err = _spec(["resnet18", "-o", str(out)], capsys)
    assert code == 2 and "exists; use --force" in err and out.read_text() == "my edits\n"
    assert _spec(["resnet18", "-o", str(out), "--force"], capsys)[0] == 0
    assert "name: resnet18" in out.read_text()
    code, _, err = _spec([str(out), "-o", str(out), "--force"], capsys)
    assert code == 2 and "is the source file itself" in err


def test_relative_imports_are_checked(tmp_path, capsys):
    src = tmp_path / "project"
    src.mkdir()
    (src / "my_blocks.yaml").write_text(BLOCKS)
    (src / "net.yaml").write_text(USES_IMPORT)
    assert _spec([str(src / "net.yaml"), "-o", str(src / "copy.yaml")], capsys)[0] == 0  # same folder: fine
    assert "a comment that must survive the copy" in (src / "copy.yaml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, _, err = _spec([str(src / "net.yaml"), "-o", str(elsewhere / "copy.yaml")], capsys)
    assert code == 2 and "would not build" in err and "imports" in err
    assert list(elsewhere.iterdir()) == []  # nothing half-written


def test_unknown_source(tmp_path, capsys):
    code, _, err = _spec(["resnt18", "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and "did you mean 'resnet18'" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_invalid_source_spec(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput_shape: [3, 8, 8]\nnodes:\n  - {id: c, type: conv2d, out_chanels: 4, kernel_size: 1}\n")
    code, _, err = _spec([str(bad), "-o", str(tmp_path / "out.yaml")], capsys)
    assert code == 2 and "bad.yaml:4" in err and "did you mean 'out_channels'" in err
    assert not (tmp_path / "out.yaml").exists()


def test_cli_spec_subprocess(tmp_path):
    folder = tmp_path / "my specs"
    folder.mkdir()
    out = folder / "my resnet.yaml"
    result = run_cli("spec", "resnet18", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert nascomp.profile(str(out)).macs == nascomp.profile("resnet18").macs
    assert_one_line_error(run_cli("spec", "resnet18", "-o", str(out)), "exists; use --force")
    assert sorted(p.name for p in folder.iterdir()) == ["my resnet.yaml"]
