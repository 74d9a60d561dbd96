"""The one spec writer (nascomp/spec/write.py) and each of its callers: every spec nascomp writes rebuilds to the
same params and MACs as the net it was written from.

References are torchvision (ResNet-50's parameter count) and ``FlopCounterMode`` of the real module (MACs =
FLOPs / 2), never nascomp's own figures alone. Callers: :meth:`SearchSpace.export` with ``write_best_yaml``
(``best.yaml``, ``baseline.yaml``, fidelity specs), a training run's ``spec.yaml``, and ``nascomp.scale``.
Each written spec with ``imports`` is read back from another folder, so relative imports would fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import nascomp
from nascomp.search.outputs.study_files import write_best_yaml
from nascomp.search.space.search_space import load_space
from nascomp.spec.write import plain, spec_mapping, spec_yaml
from nascomp.train import RunConfig, train_spec

from tests._contract import flop_counter_macs
from tests._search import one_thread  # noqa: F401 (fixture)

BLOCKS = """\
blocks:
  two_convs:
    doc: "Two 3x3 conv-bn-relu at stride 1. (N, C, H, W) -> (N, width, H, W)"
    params:
      width: {type: int, min: 1}
    nodes:
      - {id: a, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
      - {id: b, type: conv_bn_act, out_channels: "${width}", kernel_size: 3, padding: 1}
"""

NET = """\
name: imported_net
doc: |
  A net whose body is a block from an imports file.
  Two lines of doc.
reference: {params: 1, macs: 1}
input_shape: [3, 16, 16]
params:
  num_classes: 3
  width: 8
imports: [my blocks/two convs.yaml]
nodes:
  - {id: body, type: two_convs, width: "${width}"}
  - {id: down, type: conv_bn_act, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {id: pool, type: adaptive_avg_pool2d, output_size: 1}
  - {id: flat, type: flatten}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""

SPACE = """\
name: imported_space
doc: A space over the imported block's width.
dimensions:
  width: {choices: [8, 16]}
points:
  wide: {width: 16}
architecture:
""" + "".join(f"  {line}\n" for line in NET.splitlines())


def _project(folder: Path) -> Path:
    """A spec file importing a block file by a relative path with spaces; returns the spec file."""
    (folder / "my blocks").mkdir(parents=True)
    (folder / "my blocks" / "two convs.yaml").write_text(BLOCKS)
    path = folder / "net.yaml"
    path.write_text(NET)
    return path


def _real_cost(spec: nascomp.Spec) -> tuple[int, int]:
    """(MACs, params) of the built module: FlopCounterMode FLOPs / 2 at batch 1 and the parameter count."""
    model = nascomp.build(spec).eval()
    return flop_counter_macs(model, torch.zeros(1, *spec.input_shape)), sum(p.numel() for p in model.parameters())


def _cost(spec) -> tuple[int, int]:
    prof = nascomp.profile(spec)
    return prof.macs, prof.params


def test_spec_mapping_orders_keys_drops_reference_and_makes_imports_absolute(tmp_path):
    origin = tmp_path / "sub" / "net.yaml"
    out = spec_mapping({"nodes": [], "imports": ["b.yaml", "/abs/c.yaml"], "reference": {"macs": 1},
                        "params": {"w": 1, "k": 2}, "name": "n"},
                       origin=origin, input_shape=(3, 8, 8), params={"k": 5, "num_classes": 10})
    assert list(out) == ["name", "input_shape", "params", "nodes", "imports"]
    assert out["params"] == {"w": 1, "k": 5, "num_classes": 10}
    assert out["imports"] == [str((tmp_path / "sub" / "b.yaml").resolve()), "/abs/c.yaml"]
    assert plain({"a": (1, 2)}) == {"a": [1, 2]}
    text = spec_yaml({"name": "n", "doc": "one\ntwo\n", "nodes": [{"id": "fc", "type": "linear"}]})
    assert text == "name: n\ndoc: |\n  one\n  two\nnodes:\n- {id: fc, type: linear}\n"


def test_space_export_to_best_yaml_rebuilds_torchvision_resnet50(tmp_path):
    """SearchSpace.export + write_best_yaml: se_resnext's resnet50 point at 64 px and 10 classes rebuilds to
    torchvision's ResNet-50 (params) and its FlopCounterMode MACs."""
    space = load_space("se_resnext")
    point = space.points["resnet50"]
    mapping = space.export(point, name="resnet50_point", doc="The resnet50 point.\nSecond line.",
                           input_shape=(3, 64, 64), num_classes=10)
    path = write_best_yaml(mapping, tmp_path / "best.yaml")
    assert path.read_text().startswith("name: resnet50_point\ndoc: |-\n  The resnet50 point.\n  Second line.\n")
    written = nascomp.load_spec(path)
    reference = torchvision.models.resnet50(num_classes=10).eval()
    ref_params = sum(p.numel() for p in reference.parameters())
    ref_macs = flop_counter_macs(reference, torch.zeros(1, 3, 64, 64))
    assert _cost(written) == _cost(space.spec(point, num_classes=10, input_shape=(3, 64, 64)))
    assert _cost(written) == (ref_macs, ref_params)


def test_space_export_with_imports_rebuilds_from_another_folder(tmp_path, monkeypatch):
    project = tmp_path / "a project"
    _project(project)
    (project / "space.yaml").write_text(SPACE)
    space = load_space(project / "space.yaml")
    point = space.points["wide"]
    mapping = space.export(point, name="wide", doc="", input_shape=(3, 16, 16), num_classes=3)
    assert "reference" not in mapping
    (tmp_path / "elsewhere").mkdir()
    path = write_best_yaml(mapping, tmp_path / "elsewhere" / "best.yaml")
    monkeypatch.chdir(tmp_path / "elsewhere")
    written = nascomp.load_spec(path)
    assert _cost(written) == _cost(space.spec(point)) == _real_cost(written)


@pytest.mark.usefixtures("one_thread")
def test_train_spec_yaml_rebuilds_with_the_datas_shape_from_another_folder(tmp_path, monkeypatch):
    """train_spec's spec.yaml: the source net at the data's input (8 px digits, 10 classes) with the run's --set
    values (``width=16`` was dropped before the one writer)."""
    source = _project(tmp_path / "a project")
    config = RunConfig(data="digits", epochs=1, batch_size=32, max_images=200, seed=3, device="cpu", workers=0)
    train_spec(source, config, out=tmp_path / "run", overrides={"width": 16}, progress=False)
    monkeypatch.chdir(tmp_path)
    text = (tmp_path / "run" / "spec.yaml").read_text()
    assert "reference" not in text and "doc: |\n  A net whose body" in text
    written = nascomp.load_spec(tmp_path / "run" / "spec.yaml")
    assert written.input_shape == (3, 8, 8) and written.params["num_classes"] == 10
    assert written.params["width"] == 16
    expected = nascomp.load_spec(source, input_shape=(3, 8, 8), num_classes=10, width=16)
    assert _cost(written) == _cost(expected) == _real_cost(written)


def test_scale_to_yaml_rebuilds_to_the_solved_cost_from_another_folder(tmp_path, monkeypatch):
    """nascomp.scale (cost/scale.py): the written scaled spec rebuilds to the MACs and params it reports, and the
    real module agrees; the scaled net keeps the source's imports working from another folder."""
    source = _project(tmp_path / "a project")
    result = nascomp.scale(str(source), 1_000_000, num_classes=10)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "scaled.yaml").write_text(result.to_yaml())
    monkeypatch.chdir(tmp_path / "out")
    written = nascomp.load_spec("scaled.yaml")
    assert "reference" not in result.spec and result.macs <= 1_000_000
    assert _cost(written) == (result.macs, result.params) == _real_cost(written)
    assert _cost(nascomp.load_spec(source, num_classes=10)) != _cost(written)  # it did scale
