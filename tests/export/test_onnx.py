"""ONNX opsets and zoo families: every opset nascomp accepts is written as asked and runs in onnxruntime with the
built model's outputs; one net of every zoo family does too; an opset outside an exporter's range is refused.

The references are torch's own outputs and onnx's reading of the written file; the opset ranges are checked
against torch's exporter constants. Outputs are made O(1) (random batch-norm statistics, and the classifier scaled
to unit output spread) so that the absolute tolerance of 1e-5 means something.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort  # in the [test] extra: a missing one fails, never skips
import pytest
import torch
from torch import nn

import nascomp
from nascomp.cli.main import main
from nascomp.errors import NascompError
from nascomp.export.onnx import DEFAULT_OPSET, OPSETS, export_onnx
from tests._cli import assert_one_line_error, run_cli

ATOL = 1e-5  # the bar: within 1e-5 of torch's outputs

# Every op type the zoo nets use, with the zoo's attributes: grouped and biased convs, batch norm, max-pool with
# ceil_mode (GoogLeNet) and padding, average pool with padding (Inception), squeeze-excite (SE nets: sigmoid, mul),
# concat (Inception, DenseNet), add (ResNet), adaptive average pool to a factor of its input (AlexNet, VGG at 224),
# dropout, flatten, linear.
EVERY_ZOO_OP = """
name: every_zoo_op
input_shape: [3, 24, 24]
params: {num_classes: 5}
nodes:
  - {id: stem, type: conv_bn_act, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {id: pool, type: max_pool2d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {id: grouped, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, groups: 4, bias: true}
  - {id: bn, type: batch_norm2d}
  - {id: se, type: squeeze_excite, reduction: 4}
  - {id: res, type: add, inputs: [pool, se]}
  - {id: avg, type: avg_pool2d, kernel_size: 3, stride: 1, padding: 1, inputs: pool}
  - {id: cat, type: concat, inputs: [res, avg]}
  - {id: act, type: relu}
  - {id: adapt, type: adaptive_avg_pool2d, output_size: 3}
  - {id: flat, type: flatten}
  - {id: drop, type: dropout, p: 0.5}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _o1_model(source, input_shape, seed=0):
    """A built model in eval mode with random BN statistics and affine terms, its classifier scaled so that the
    outputs on a standard-normal batch have a spread of about 1 (an exact rescaling of the last linear layer)."""
    torch.manual_seed(seed)
    model = nascomp.build(source, input_shape=input_shape, num_classes=10).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        spread = float(model(torch.randn(4, *input_shape, generator=g)).std())
        last.weight.div_(spread)
        last.bias.div_(spread)
    return model


def _check_in_onnxruntime(model, path, input_shape, opset):
    imports = onnx.load(str(path), load_external_data=False).opset_import
    assert [o.version for o in imports if o.domain in ("", "ai.onnx")] == [opset]
    x = torch.randn(3, *input_shape, generator=torch.Generator().manual_seed(7))  # batch 3: the batch is dynamic
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert expected.std() > 0.3, "outputs near zero would make the tolerance meaningless"
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


def test_opset_ranges_are_torchs():
    from torch.onnx import _constants
    from torch.onnx._internal.exporter import _constants as dynamo_constants

    assert OPSETS["dynamo"] == range(dynamo_constants.TORCHLIB_OPSET, _constants.ONNX_MAX_OPSET + 1)
    assert OPSETS["torchscript"] == range(_constants.ONNX_MIN_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET + 1)
    assert DEFAULT_OPSET == _constants.ONNX_DEFAULT_OPSET


@pytest.mark.parametrize("exporter, opset", [(e, o) for e, opsets in OPSETS.items() for o in opsets])
def test_every_accepted_opset_is_written_and_runs(exporter, opset, tmp_path):
    model = _o1_model(EVERY_ZOO_OP, (3, 24, 24))
    path = export_onnx(model, tmp_path / "net.onnx", (3, 24, 24), opset=opset, exporter=exporter)
    _check_in_onnxruntime(model, path, (3, 24, 24), opset)


def test_default_opset(tmp_path):
    model = _o1_model(EVERY_ZOO_OP, (3, 24, 24))
    path = export_onnx(model, tmp_path / "net.onnx", (3, 24, 24), exporter="torchscript")
    _check_in_onnxruntime(model, path, (3, 24, 24), 20)


# One net of every zoo family, the smallest, at a small input (Inception v3 needs 75x75), each exported at a
# different accepted opset. The dynamo exporter takes 15-40 s per zoo net on 2 loaded cores: those are slow.
FAMILIES = [
    pytest.param("alexnet", 64, "dynamo", 18, marks=pytest.mark.slow),  # torchscript: 1x1 -> 6x6 adaptive pool fails
    pytest.param("vgg11_bn", 64, "dynamo", 19, marks=pytest.mark.slow),
    pytest.param("googlenet", 64, "torchscript", 7),
    pytest.param("inception_v3", 75, "dynamo", 20, marks=pytest.mark.slow),
    pytest.param("densenet121", 64, "torchscript", 13),
    pytest.param("resnet18", 64, "dynamo", 21, marks=pytest.mark.slow),
    pytest.param("resnext50_32x4d", 64, "torchscript", 17),
    pytest.param("se_resnet18", 64, "dynamo", 22, marks=pytest.mark.slow),
    pytest.param("se_resnext50_32x4d", 64, "dynamo", 23, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, side, exporter, opset", FAMILIES)
def test_zoo_family_runs_in_onnxruntime(name, side, exporter, opset, tmp_path):
    shape = (3, side, side)
    model = _o1_model(name, shape)
    path = export_onnx(model, tmp_path / f"{name}.onnx", shape, opset=opset, exporter=exporter)
    _check_in_onnxruntime(model, path, shape, opset)


@pytest.mark.parametrize("exporter, opset", [("dynamo", 17), ("dynamo", 24), ("dynamo", 999), ("dynamo", 7),
                                             ("torchscript", 6), ("torchscript", 21), ("dynamo", 0)])
def test_opset_outside_the_range_is_refused(exporter, opset, tmp_path):
    lo, hi = OPSETS[exporter][0], OPSETS[exporter][-1]
    with pytest.raises(NascompError, match=f"--opset {opset}: the {exporter} ONNX exporter writes opsets {lo} to {hi}"):
        export_onnx(nn.Flatten(), tmp_path / "net.onnx", (3, 4, 4), opset=opset, exporter=exporter)
    assert list(tmp_path.iterdir()) == []


def test_a_file_of_another_opset_is_refused(tmp_path, monkeypatch):
    """The dynamo exporter, asked for an opset it cannot convert to, writes opset 18 and says so only in a log."""
    import nascomp.export.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "written_opset", lambda path: 18)
    with pytest.raises(NascompError, match="torchscript ONNX exporter wrote opset 18 instead of the 20 asked for"):
        export_onnx(nn.Flatten(), tmp_path / "net.onnx", (3, 4, 4), exporter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_exporter_failure_is_one_line_and_writes_nothing(tmp_path, capfd):
    spec = EVERY_ZOO_OP.replace("output_size: 3", "output_size: 4")  # 6x6 -> 4x4: not a factor
    model = nascomp.build(spec).eval()
    with pytest.raises(NascompError) as info:
        export_onnx(model, tmp_path / "net.onnx", (3, 24, 24), exporter="torchscript")
    message = str(info.value)
    assert message.startswith("torch's torchscript ONNX exporter failed at opset 20: Unsupported: ONNX export of "
                              "operator adaptive_avg_pool2d, output size that are not factor of input size.")
    assert "\n" not in message and "try --onnx-exporter dynamo" in message
    out, err = capfd.readouterr()
    assert "Torch IR graph" not in out + err  # torch's graph dump is kept from the terminal
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--onnx", "{out}", "--opset", "999"],
         "--opset 999: the dynamo ONNX exporter writes opsets 18 to 23 (default 20)"),
        (["--onnx", "{out}", "--opset", "7"], "opset 7 is written by --onnx-exporter torchscript (7 to 20)"),
        (["--onnx", "{out}", "--onnx-exporter", "torchscript", "--opset", "21"],
         "the torchscript ONNX exporter writes opsets 7 to 20"),
        (["--torchscript", "{out}", "--opset", "18"], "--opset 18 applies to ONNX files only"),
    ],
)
def test_cli_opset_errors(args, message, tmp_path, capsys):
    out = str(tmp_path / "a b.onnx")
    code = main(["export", "resnet18", *(a.format(out=out) for a in args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_cli_opset_subprocess(tmp_path):
    folder = tmp_path / "exported nets"
    folder.mkdir()
    result = run_cli("export", "resnet18", "--onnx", str(folder / "a.onnx"), "--opset", "7")
    assert_one_line_error(result, "--opset 7: the dynamo ONNX exporter writes opsets 18 to 23")
    assert list(folder.iterdir()) == []
