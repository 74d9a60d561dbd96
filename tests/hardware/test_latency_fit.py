"""The latency model's calibration fit (nascomp/hardware/fit.py): two scales by op class, recovered from synthetic
whole-net figures made from known coefficients; the one-scale fallback; the fit kept in the table and used by a
prediction; the frozen calibration nets are still points of their search spaces. Nothing here times anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nascomp.cost.profile import profile
from nascomp.hardware import LatencyModel, LatencySettings, node_key
from nascomp.hardware.fit import FIT_METHOD, CalibrationRow, fit_calibration, split_by_class
from nascomp.hardware.model import CALIBRATION_SPEC_DIR, DEFAULT_CALIBRATION_NETS, shape_key
from nascomp.search.space.search_space import load_space, space_names

TINY = """\
name: tiny
input_shape: [3, 32, 32]
params: {num_classes: 10, width: 16, groups: 1, stride: 1}
nodes:
  - {id: conv1, type: conv2d, out_channels: "${width}", kernel_size: 3, padding: 1, bias: false}
  - {id: bn1, type: batch_norm2d}
  - {id: relu1, type: relu}
  - {id: conv2, type: conv2d, out_channels: "${width}", kernel_size: 3, padding: 1, groups: "${groups}", stride: "${stride}"}
  - {id: bn2, type: batch_norm2d}
  - {id: relu2, type: relu}
  - {id: pool, type: global_pool, keepdim: false}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _tiny(**params) -> dict:
    raw = yaml.safe_load(TINY)
    raw["params"].update(params)
    return raw


# --- the fit alone ---------------------------------------------------------------------------------------------
def _rows(compute_scale: float, memory_scale: float, overhead: float, noise: float = 0.0) -> list[CalibrationRow]:
    rng = np.random.RandomState(0)
    sums = [(50.0, 2.0), (120.0, 7.0), (75.0, 10.0), (130.0, 10.0), (45.0, 10.0), (11.0, 4.5), (20.0, 9.0), (80.0, 7.0)]
    return [
        CalibrationRow(c, m, 100, (compute_scale * c + memory_scale * m + overhead) * (1 + noise * rng.uniform(-1, 1)))
        for c, m in sums
    ]


def test_fit_recovers_known_scales_exactly():
    fit = fit_calibration(_rows(1.05, 2.1, 0.4), overhead_ms=0.4)
    assert fit.two_scales and fit.nets == 8
    assert fit.compute_scale == pytest.approx(1.05, rel=1e-9) and fit.memory_scale == pytest.approx(2.1, rel=1e-9)
    assert fit.predict_ms(10.0, 1.0) == pytest.approx(1.05 * 10 + 2.1 * 1 + 0.4)


def test_fit_with_noise_stays_close_and_one_scale_misses():
    rows = _rows(1.0, 2.0, 0.0, noise=0.02)  # +-2 % noise on each net's figure
    fit = fit_calibration(rows)
    assert fit.compute_scale == pytest.approx(1.0, rel=0.05) and fit.memory_scale == pytest.approx(2.0, rel=0.15)
    one = fit_calibration(rows, two_scales=False)
    assert not one.two_scales and one.compute_scale == one.memory_scale
    # a memory-heavy net (a DenseNet-like share of ops without MACs): two scales are right, one scale is not
    truth = 1.0 * 20 + 2.0 * 10
    assert abs(fit.predict_ms(20, 10) - truth) / truth < 0.05 < abs(one.predict_ms(20, 10) - truth) / truth


def test_fit_falls_back_to_one_scale():
    few = _rows(1.2, 3.0, 0.0)[:3]  # fewer than 4 nets: one least-squares scale on the whole sum
    fit = fit_calibration(few)
    sums = np.array([r.op_sum_ms for r in few])
    y = np.array([r.measured_ms for r in few])
    expected = float(np.sum(sums / y) / np.sum((sums / y) ** 2))  # relative least squares through the origin
    assert not fit.two_scales and fit.compute_scale == fit.memory_scale == pytest.approx(expected, rel=1e-9)
    no_memory_cost = fit_calibration(_rows(1.3, 0.0, 0.0))  # a scale of 0 for a class: refused, one scale
    assert not no_memory_cost.two_scales and no_memory_cost.compute_scale == no_memory_cost.memory_scale
    empty = fit_calibration([])
    assert (empty.compute_scale, empty.memory_scale, empty.nets) == (1.0, 1.0, 0)


# --- in the model ----------------------------------------------------------------------------------------------
def test_class_sums_split_ops_with_macs_from_the_others(tmp_path):
    model = LatencyModel.open(LatencySettings(), cache_dir=tmp_path / "lat cache", progress=False, calibration_nets=())
    p = model.predict(_tiny())
    nodes = model.nodes(_tiny())
    ms = {n.name: model.table.entries[node_key(n, model.settings)] for n in nodes}
    assert p.compute_ms == pytest.approx(ms["conv1"] + ms["conv2"] + ms["fc"])
    assert p.memory_ms == pytest.approx(ms["bn1"] + ms["relu1"] + ms["bn2"] + ms["relu2"] + ms["pool"])
    assert split_by_class(nodes, [ms[n.name] for n in nodes]) == pytest.approx((p.compute_ms, p.memory_ms))
    assert p.latency_ms == pytest.approx(p.op_sum_ms + p.overhead_ms)  # no calibration: the plain sum


def test_calibrate_recovers_two_scales_and_prediction_uses_them(tmp_path, monkeypatch):
    cache = tmp_path / "lat cache"
    model = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=())
    specs = [_tiny(), _tiny(groups=4, stride=2), _tiny(groups=16), _tiny(width=32), _tiny(width=8, stride=2)]
    truth = {}
    for spec in specs:
        p = model.predict(spec)
        truth[json.dumps(spec, sort_keys=True)] = 1.5 * p.compute_ms + 3.0 * p.memory_ms + model.table.call_overhead_ms

    class Fake:
        def __init__(self, ms):
            self.compute_ms = ms

    monkeypatch.setattr(model, "measure", lambda spec, shape=None: Fake(truth[json.dumps(spec, sort_keys=True)]))
    cal = model.calibrate(specs, (3, 32, 32))
    assert cal["method"] == FIT_METHOD and cal["two_scales"] and cal["nets"] == 5
    assert cal["compute_scale"] == pytest.approx(1.5, rel=1e-6) and cal["memory_scale"] == pytest.approx(3.0, rel=1e-6)
    new = _tiny(width=24)  # not a calibration net
    p = model.predict(new)
    assert p.latency_ms == pytest.approx(1.5 * p.compute_ms + 3.0 * p.memory_ms + p.overhead_ms)
    assert p.scale == pytest.approx((p.latency_ms - p.overhead_ms) / p.op_sum_ms)
    reopened = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=())
    assert reopened.predict_ms(new) == pytest.approx(p.latency_ms)  # kept in the table's file


def test_calibration_of_an_older_table_is_fitted_again(tmp_path, monkeypatch):
    cache = tmp_path / "lat cache"
    model = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=())
    p = model.predict(_tiny())
    old = {"scale": 2.0, "per_op_ms": 0.0, "overhead_ms": 0.0, "nets": 4, "rows": []}  # an older table's fit
    model.table.calibration = {shape_key((3, 32, 32)): old}
    model.table.save()
    assert model.predict_ms(_tiny()) == pytest.approx(2.0 * p.op_sum_ms)  # no calibration nets: used as it is
    specs = [_tiny(), _tiny(width=32), _tiny(groups=16), _tiny(width=8, stride=2)]
    again = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=specs)
    calls = []

    class Fake:
        compute_ms = 1.0

    monkeypatch.setattr(again, "measure", lambda spec, shape=None: calls.append(spec) or Fake())
    again.predict(_tiny())
    assert len(calls) == 4 and again.table.calibration["3x32x32"]["method"] == FIT_METHOD


# --- the frozen calibration nets -------------------------------------------------------------------------------
def test_calibration_nets_are_points_of_the_shipped_spaces():
    files = sorted(CALIBRATION_SPEC_DIR.glob("*.yaml"))
    nets = list(DEFAULT_CALIBRATION_NETS)
    assert sorted(Path(n).name for n in nets if n.endswith(".yaml")) == [f.name for f in files]
    assert [n for n in nets if not n.endswith(".yaml")] == ["resnet18", "resnet50", "densenet121", "se_resnext50_32x4d"]
    kinds = ["zoo" if not n.endswith(".yaml") else Path(n).name.rsplit("_cal", 1)[0] for n in nets]
    assert kinds[:3] == ["zoo", "densenet", "se_resnext"] and kinds[3:6] == kinds[:3]  # interleaved (model.py)
    assert sorted({f.name.rsplit("_cal", 1)[0] for f in files}) == sorted(space_names())
    for f in files:
        raw = yaml.safe_load(f.read_text())
        space = load_space(f.name.rsplit("_cal", 1)[0])
        point = {k: v for k, v in raw["params"].items() if k in space.dimensions}
        assert len(point) == len(space.dimensions)
        ours = profile(str(f))
        theirs = space.cost(point, input_shape=(3, 224, 224), num_classes=1000)
        assert (ours.macs, ours.params) == (theirs.macs, theirs.params)
        assert 0.25e9 <= ours.macs <= 3.0e9  # cheap to measure (benchmarks/latency_calibration_nets.py)
        assert raw["nodes"] == space.export(point, name=raw["name"], doc="", input_shape=(3, 224, 224),
                                            num_classes=1000)["nodes"]
