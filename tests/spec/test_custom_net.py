"""Issue 2's bar: a custom net written from ``docs/spec-format.md`` as a new user would builds from YAML alone.

The net has a stem, an inception module with a factorised 7x7 branch (a user block, defined in the spec's
``blocks:``, that uses the built-in ``factorized_conv``), a grouped bottleneck with squeeze-and-excitation, a dense
block, a transition and a classifier. It must build, give the output shape the spec says, cost what
``FlopCounterMode`` measures, and work with ``torch.fx.symbolic_trace``, ``torch.compile`` (``aot_eager`` in the fast
suite; ``inductor``, over a minute on 2 CPU cores, is marked slow) and ``torch.onnx.export`` (checked against
onnxruntime). User blocks also come from an ``imports:`` file; a block name defined twice is an error naming both
files.

Expected shapes are worked out by hand from the spec (torch's conv rule), not read from nascomp.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nascomp

from tests._contract import check_contract, flop_counter_macs

USER_BLOCK = """\
  inception_7x7:
    doc: "Inception module with a factorised 7x7 branch. (N, C, H, W) -> (N, b1 + b7 + proj, H, W)"
    params:
      b1: {type: int, min: 1}
      b7red: {type: int, min: 1}
      b7: {type: int, min: 1}
      proj: {type: int, min: 1}
    nodes:
      - {id: branch1, type: conv_bn_act, inputs: input, out_channels: "${b1}", kernel_size: 1}
      - id: branch7
        type: group
        inputs: input
        nodes:
          - {id: reduce, type: conv_bn_act, out_channels: "${b7red}", kernel_size: 1}
          - {id: conv7, type: factorized_conv, out_channels: "${b7}", kernel_size: 7}   # 1x7 then 7x1
      - {id: pool, type: max_pool2d, inputs: input, kernel_size: 3, stride: 1, padding: 1}
      - {id: pool_proj, type: conv_bn_act, out_channels: "${proj}", kernel_size: 1}
      - {id: cat, type: concat, inputs: [branch1, branch7, pool_proj]}
"""

NODES = """\
nodes:
  - {id: stem, type: conv_bn_act, out_channels: 32, kernel_size: 3, stride: 2, padding: 1}    # 32 x 32 x 32
  - {id: inc, type: inception_7x7, b1: 16, b7red: 16, b7: 24, proj: 8}                        # 48 x 32 x 32
  - id: bottleneck                                                                             # 64 x 16 x 16
    type: bottleneck
    planes: 16
    groups: 8              # grouped 3x3: width = int(16 * 8 / 64) * 8 = 16 channels in 8 groups
    width_per_group: 8
    stride: 2
    se_reduction: 4        # SE on the residual branch, before the add
  - {id: dense, type: dense_block, num_layers: 3, growth_rate: 8}                             # 88 x 16 x 16
  - {id: trans, type: transition, out_channels: 44}                                           # 44 x 8 x 8
  - {id: pool, type: global_pool, keepdim: false}                                             # 44
  - {id: fc, type: linear, out_features: "${num_classes}"}                                    # num_classes
"""

HEADER = """\
name: my_custom_net
doc: A small custom net written from docs/spec-format.md.
input_shape: [3, 64, 64]
params:
  num_classes: 10
"""

SPEC = HEADER + "blocks:\n" + USER_BLOCK + NODES

EXPECTED_SHAPES = {
    "stem": (32, 32, 32),
    "inc": (16 + 24 + 8, 32, 32),
    "bottleneck": (16 * 4, 16, 16),
    "dense": (64 + 3 * 8, 16, 16),
    "trans": (44, 8, 8),
    "pool": (44,),
    "fc": (10,),
}


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("custom") / "my nets"
    folder.mkdir()
    path = folder / "my custom net.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def model(spec_path):
    torch.manual_seed(0)
    return nascomp.build(spec_path).eval()


def test_builds_from_yaml_with_the_shapes_the_spec_says(spec_path, model):
    prof = nascomp.profile(spec_path)
    assert {r.id: r.out_shape for r in prof.rows()} == EXPECTED_SHAPES
    assert [r.type for r in prof.rows()] == [
        "conv_bn_act", "inception_7x7", "bottleneck", "dense_block", "transition", "global_pool", "linear",
    ]
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 64, 64)).shape) == (2, 10)
    # module names (so state_dict keys) follow the spec's ids
    keys = set(model.state_dict())
    for key in ("inc.branch7.conv7.conv_1xn.conv.weight", "inc.branch7.conv7.conv_nx1.conv.weight",
                "bottleneck.conv2.weight", "bottleneck.se.fc1.weight", "bottleneck.downsample.0.weight",
                "dense.denselayer3.conv2.weight", "trans.conv.weight", "fc.weight"):
        assert key in keys, key
    assert tuple(model.get_submodule("inc.branch7.conv7.conv_1xn.conv").kernel_size) == (1, 7)
    assert tuple(model.get_submodule("inc.branch7.conv7.conv_nx1.conv").kernel_size) == (7, 1)
    assert model.get_submodule("bottleneck.conv2").groups == 8


def test_overrides_and_input_size(spec_path):
    prof = nascomp.profile(spec_path, input_shape=(3, 96, 80), num_classes=3)
    assert prof.output_shape == (3,)
    assert {r.id: r.out_shape for r in prof.rows()}["trans"] == (44, 12, 10)


def test_contract_costs_and_gradients(spec_path):
    """profile == FlopCounterMode / 2 and sum(numel), every module's shape, gradients everywhere, no NaN."""
    prof = check_contract(spec_path)
    assert prof.output_shape == (10,)


def test_torch_fx_symbolic_trace(model):
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))
    assert flop_counter_macs(traced, x[:1]) == flop_counter_macs(model, x[:1])


def _compile_and_compare(model, backend: str) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(model, backend=backend, fullgraph=True)  # fullgraph: no graph breaks
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_torch_compile_aot_eager(model):
    _compile_and_compare(model, "aot_eager")


@pytest.mark.slow
def test_torch_compile_inductor(model):
    _compile_and_compare(model, "inductor")


def test_torch_onnx_export(model, tmp_path):
    path = tmp_path / "my net.onnx"
    x = torch.randn(1, 3, 64, 64)
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    import onnxruntime  # in the [test] extra: a missing one fails the test
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), model(x), rtol=1e-4, atol=1e-5)


def test_cli_builds_the_custom_net(spec_path):
    nascomp_bin = str(Path(sys.executable).parent / "nascomp")
    proc = subprocess.run([nascomp_bin, "build", str(spec_path)], capture_output=True, text=True, timeout=120,
                          cwd=spec_path.parent.parent, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for node_id in EXPECTED_SHAPES:
        assert node_id in proc.stdout
    assert "inception_7x7" in proc.stdout and "(88, 16, 16)" in proc.stdout


# --- user blocks from files -----------------------------------------------------------------------------------------


def _blocks_file(folder: Path, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("doc: my blocks\nblocks:\n" + USER_BLOCK)
    return path


def test_user_block_from_an_imports_file(tmp_path, spec_path):
    folder = tmp_path / "a project"
    _blocks_file(folder, "my blocks/inception blocks.yaml")
    path = folder / "net.yaml"
    path.write_text(HEADER + "imports: [my blocks/inception blocks.yaml]\n" + NODES)
    prof = nascomp.profile(path)
    assert {r.id: r.out_shape for r in prof.rows()} == EXPECTED_SHAPES
    assert (prof.macs, prof.params) == (nascomp.profile(spec_path).macs, nascomp.profile(spec_path).params)
    model = nascomp.build(path)
    assert sum(p.numel() for p in model.parameters()) == prof.params


def test_duplicate_block_in_two_imported_files_names_both(tmp_path):
    folder = tmp_path / "a project"
    first = _blocks_file(folder, "first blocks.yaml")
    second = _blocks_file(folder, "second blocks.yaml")
    path = folder / "net.yaml"
    path.write_text(HEADER + "imports: [first blocks.yaml, second blocks.yaml]\n" + NODES)
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.load_spec(path)
    msg = str(info.value)
    assert "duplicate block 'inception_7x7'" in msg
    assert f"{first}:3" in msg and f"{second}:3" in msg


def test_the_same_file_imported_under_two_names_is_one_import(tmp_path, spec_path):
    """Issue 22: ``blocks.yaml`` and ``./blocks.yaml`` reported a duplicate block defined twice at the same line."""
    folder = tmp_path / "a project"
    _blocks_file(folder, "blocks.yaml")
    (folder / "sub").mkdir()
    path = folder / "net.yaml"
    path.write_text(HEADER + "imports: [blocks.yaml, ./blocks.yaml, sub/../blocks.yaml]\n" + NODES)
    prof = nascomp.profile(path)
    assert {r.id: r.out_shape for r in prof.rows()} == EXPECTED_SHAPES
    assert prof.macs == nascomp.profile(spec_path).macs


def test_duplicate_block_in_spec_and_import_names_both(tmp_path):
    folder = tmp_path / "a project"
    imported = _blocks_file(folder, "blocks.yaml")
    path = folder / "net.yaml"
    path.write_text(HEADER + "imports: [blocks.yaml]\nblocks:\n" + USER_BLOCK + NODES)
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.load_spec(path)
    msg = str(info.value)
    assert "duplicate block 'inception_7x7'" in msg and f"{imported}:3" in msg and f"{path}:8" in msg


def test_user_block_shadowing_a_builtin_names_both_files(tmp_path):
    path = tmp_path / "my net.yaml"
    path.write_text(HEADER + "blocks:\n" + USER_BLOCK.replace("inception_7x7:", "bottleneck:") + NODES)
    with pytest.raises(nascomp.SpecError) as info:
        nascomp.load_spec(path)
    msg = str(info.value)
    assert "duplicate block 'bottleneck'" in msg and "resnet.yaml" in msg and f"{path}:7" in msg


def test_missing_import_file(tmp_path):
    path = tmp_path / "my net.yaml"
    path.write_text(HEADER + "imports: [nowhere.yaml]\n" + NODES)
    with pytest.raises(nascomp.SpecError, match=r"imported block file not found: .*nowhere\.yaml"):
        nascomp.load_spec(path)
