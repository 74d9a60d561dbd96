"""``nascomp export``: ONNX (checked in onnxruntime) and TorchScript files give the built model's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nascomp
from nascomp.errors import NascompError
from nascomp.export import export_onnx, export_torchscript, verify_onnx, verify_torchscript
from tests._cli import assert_one_line_error, run_cli

from nascomp.cli.main import main

import onnxruntime as ort  # in the [test] extra: a missing one fails, never skips
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

RTOL, ATOL = 1e-4, 1e-5

# Branches, a concat, a residual add, a block, a flatten and a linear: every kind of wiring the compiler emits.
SMALL = """
name: small_export
input_shape: [3, 24, 24]
params: {num_classes: 7}
nodes:
  - {id: stem, type: conv_bn_act, out_channels: 8, kernel_size: 3, padding: 1}
  - {id: a, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, inputs: stem}
  - {id: b, type: conv2d, out_channels: 4, kernel_size: 1, inputs: stem}
  - {id: res, type: add, inputs: [stem, a]}
  - {id: cat, type: concat, inputs: [res, b]}
  - {id: pool, type: max_pool2d, kernel_size: 2}
  - {id: se, type: squeeze_excite, reduction: 4}
  - {id: gap, type: global_pool}
  - {id: flat, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _model(source, **overrides):
    torch.manual_seed(0)
    return nascomp.build(source, **overrides).eval()


def _onnx_outputs(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def _reference(model, x):
    with torch.no_grad():
        return model(x).numpy()


@pytest.fixture(scope="module")
def resnet18():
    return _model("resnet18", input_shape=(3, 64, 64), num_classes=10)


def test_onnx_resnet18_matches_built_model(resnet18, tmp_path):
    path = export_onnx(resnet18, tmp_path / "resnet18.onnx", (3, 64, 64))
    for batch in (1, 3):  # the batch dimension is dynamic
        x = torch.randn(batch, 3, 64, 64)
        np.testing.assert_allclose(_onnx_outputs(path, x), _reference(resnet18, x), rtol=RTOL, atol=ATOL)
    assert verify_onnx(resnet18, path, (3, 64, 64)) < 1e-4


def test_torchscript_resnet18_matches_built_model(resnet18, tmp_path):
    path = export_torchscript(resnet18, tmp_path / "resnet18.pt", (3, 64, 64))
    loaded = torch.jit.load(str(path))
    for batch in (1, 3):
        x = torch.randn(batch, 3, 64, 64)
        with torch.no_grad():
            got = loaded(x).numpy()
        np.testing.assert_allclose(got, _reference(resnet18, x), rtol=RTOL, atol=ATOL)
    assert set(dict(loaded.named_parameters())) == set(dict(resnet18.named_parameters()))  # spec ids kept


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_onnx_small_spec(exporter, tmp_path):
    model = _model(SMALL)
    path = export_onnx(model, tmp_path / "small.onnx", (3, 24, 24), exporter=exporter)
    x = torch.randn(2, 3, 24, 24)
    np.testing.assert_allclose(_onnx_outputs(path, x), _reference(model, x), rtol=RTOL, atol=ATOL)


def test_torchscript_small_spec(tmp_path):
    model = _model(SMALL)
    path = export_torchscript(model, tmp_path / "small.pt", (3, 24, 24))
    x = torch.randn(4, 3, 24, 24)
    with torch.no_grad():
        np.testing.assert_allclose(torch.jit.load(str(path))(x).numpy(), _reference(model, x), rtol=RTOL, atol=ATOL)
    assert verify_torchscript(model, path, (3, 24, 24)) == 0.0


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    model = _model(SMALL)
    existing = tmp_path / "old.pt"
    existing.write_bytes(b"previous")

    def broken_save(module, f, *args, **kwargs):
        Path(f).write_bytes(b"half a mod")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_torchscript(model, tmp_path / "new.pt", (3, 24, 24))
    with pytest.raises(RuntimeError, match="disk full"):
        export_torchscript(model, existing, (3, 24, 24))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.pt"] and existing.read_bytes() == b"previous"

    def broken_onnx(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_onnx)
    with pytest.raises(NascompError, match="dynamo ONNX exporter failed at opset 20: exporter crashed"):
        export_onnx(model, tmp_path / "new.onnx", (3, 24, 24))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.pt"]


def test_mismatch_is_reported(tmp_path):
    model = _model(SMALL)
    path = export_torchscript(model, tmp_path / "small.pt", (3, 24, 24))
    with torch.no_grad():
        model.fc.bias.add_(1.0)  # the built model no longer matches the file
    with pytest.raises(NascompError, match="outputs differ from the built model's"):
        verify_torchscript(model, path, (3, 24, 24))


def test_missing_folder(tmp_path):
    with pytest.raises(NascompError, match="does not exist"):
        export_onnx(_model(SMALL), tmp_path / "nope" / "a.onnx", (3, 24, 24))


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NascompError, match=r"'.*notes\.txt' is a file, not a folder"):
        export_onnx(_model(SMALL), tmp_path / "notes.txt" / "deeper" / "a.onnx", (3, 24, 24))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_storage_under_a_file_is_named(tmp_path):
    from nascomp.errors import SearchError
    from nascomp.search.workers.storage import open_storage

    (tmp_path / "notes.txt").write_text("mine")
    for url in (f"sqlite:///{tmp_path}/notes.txt/study.db", f"journal:{tmp_path}/notes.txt/j.log"):
        with pytest.raises(SearchError, match=r"notes\.txt' is a file, not a folder"):
            open_storage(url)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow  # a subprocess exporting twice (about 8 s); the in-process tests above cover the round trip
def test_cli_export(tmp_path):
    folder = tmp_path / "exported nets"
    folder.mkdir()
    spec = folder / "small net.yaml"
    spec.write_text(SMALL)
    onnx_path, ts_path = folder / "small net.onnx", folder / "small net.pt"
    result = run_cli(
        "export", str(spec), "--onnx", str(onnx_path), "--torchscript", str(ts_path), "--input", "3x32x32",
        "--set", "num_classes=3",
    )
    assert result.returncode == 0, result.stderr
    assert "checked with onnxruntime" in result.stdout and "checked with torch.jit.load" in result.stdout
    x = torch.randn(2, 3, 32, 32)
    assert _onnx_outputs(onnx_path, x).shape == (2, 3)
    assert torch.jit.load(str(ts_path))(x).shape == (2, 3)
    assert sorted(p.name for p in folder.iterdir()) == ["small net.onnx", "small net.pt", "small net.yaml"]


def test_cli_export_errors(tmp_path):
    folder = tmp_path / "exported nets"
    folder.mkdir()
    out = str(folder / "a.onnx")
    assert_one_line_error(run_cli("export", "resnet18", "--input", "3x64", "--onnx", out), "--input must be CxHxW")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["resnt18", "--onnx", "{out}"], "did you mean 'resnet18'"),
        (["resnet18", "--set", "depth=3", "--onnx", "{out}"], "has no parameter 'depth'"),
        (["resnet18", "--set", "num_classes=ten", "--torchscript", "{out}"], "must be an integer, found string 'ten'"),
        (["resnet18"], "give --onnx FILE and/or --torchscript FILE"),
        (["resnet18", "--onnx", "{missing}"], "does not exist"),
        (["resnet18", "--input", "0x64x64", "--torchscript", "{out}"], "--input must be CxHxW of positive integers"),
    ],
)
def test_cli_export_errors_in_process(args, message, tmp_path, capsys):
    out, missing = str(tmp_path / "a b.onnx"), str(tmp_path / "no" / "a.onnx")
    code = main(["export", *(a.format(out=out, missing=missing) for a in args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []
