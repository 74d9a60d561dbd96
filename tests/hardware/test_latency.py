"""Latency: the measuring function, the lookup table's keys, its cache and fingerprint, predictions that build
nothing, the calibration fit, and ``nascomp profile --latency`` through a subprocess (tiny 3x32x32 nets, a
temporary cache folder). Speed is never asserted: only orders, fields and values that could be wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from tests._cli import assert_one_line_error, run_cli
from nascomp.hardware import LatencyError, LatencyModel, LatencySettings, measure_latency, node_key, op_key
from nascomp.hardware import model as model_module
from nascomp.hardware.measure import LatencyMeasurement

TINY = """\
name: tiny
input_shape: [3, 32, 32]
params: {num_classes: 10, groups: 1, stride: 1}
nodes:
  - {id: conv1, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
  - {id: bn1, type: batch_norm2d}
  - {id: relu1, type: relu}
  - {id: conv2, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, groups: "${groups}", stride: "${stride}"}
  - {id: pool, type: global_pool, keepdim: false}
  - {id: fc, type: linear, out_features: "${num_classes}"}
"""


def _tiny(**params) -> dict:
    import yaml

    raw = yaml.safe_load(TINY)
    raw["params"].update(params)
    return raw


@pytest.fixture()
def cache(tmp_path) -> Path:
    folder = tmp_path / "latency cache"  # a path with a space
    return folder


def test_measure_latency_tiny_net_quantiles_and_settings():
    settings = LatencySettings(device="cpu", batch_size=2, threads=1)
    threads_before = torch.get_num_threads()
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    m = measure_latency(net, (3, 16, 16), settings, max_time_s=0.2)
    assert isinstance(m, LatencyMeasurement) and m.settings is settings
    assert 0 < m.q1_ms <= m.median_ms <= m.q3_ms and m.iqr_ms == pytest.approx(m.q3_ms - m.q1_ms)
    assert 0 < m.cpu_q1_ms <= m.cpu_median_ms <= m.cpu_q3_ms  # one thread on CPU: the thread's CPU time too
    assert m.repeats >= 10 and m.warmup >= 3 and m.number >= 1
    assert not net.training and net[0].weight.is_contiguous(memory_format=torch.channels_last)
    fp = settings.fingerprint()
    assert fp["torch"] == torch.__version__ and fp["threads"] == 1 and fp["batch_size"] == 2
    assert fp["dtype"] == "float32" and fp["memory_format"] == "channels_last" and fp["device"] == "cpu"
    assert torch.get_num_threads() == threads_before  # the measurement's thread count is not left behind


def test_op_key_distinguishes_groups_stride_dtype_and_format(cache):
    model = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=())

    def conv2_key(**params) -> str:
        (node,) = [n for n in model.nodes(_tiny(**params)) if n.name == "conv2"]
        return node_key(node, model.settings)

    base = conv2_key()
    assert conv2_key(groups=2) != base and conv2_key(stride=2) != base
    assert conv2_key(num_classes=3) == base  # the classifier's width does not change conv2
    params = {"kernel_size": 3, "groups": 1}
    fp32 = op_key("conv2d", params, [(16, 8, 8)], LatencySettings())
    assert op_key("conv2d", dict(reversed(params.items())), [(16, 8, 8)], LatencySettings()) == fp32
    assert op_key("conv2d", params, [(16, 8, 8)], LatencySettings(dtype="bfloat16")) != fp32
    assert op_key("conv2d", params, [(16, 8, 8)], LatencySettings(channels_last=False)) != fp32
    assert op_key("conv2d", params, [(16, 8, 9)], LatencySettings()) != fp32


def test_cache_round_trip_and_warm_prediction_builds_no_module(cache, monkeypatch):
    settings = LatencySettings()
    model = LatencyModel.open(settings, cache_dir=cache, progress=False, calibration_nets=())
    first = model.predict(_tiny())
    assert first.ops == 6 and first.latency_ms > 0 and first.op_sum_ms > 0
    path = cache / settings.cache_name()
    assert path.is_file() and json.loads(path.read_text())["fingerprint"] == settings.fingerprint()

    def no_modules(*args, **kwargs):
        raise AssertionError("a module was constructed for a warm prediction")

    reopened = LatencyModel.open(settings, cache_dir=cache, progress=False, calibration_nets=())
    assert reopened.table.entries == model.table.entries
    monkeypatch.setattr(nn.Module, "__init__", no_modules)
    monkeypatch.setattr(model_module, "measure_op", no_modules)
    assert reopened.predict_ms(_tiny()) == pytest.approx(first.latency_ms)
    assert reopened.predict_ms(_tiny(num_classes=10)) == pytest.approx(first.latency_ms)


def test_table_of_another_fingerprint_is_refused(cache):
    settings = LatencySettings()
    LatencyModel.open(settings, cache_dir=cache, progress=False, calibration_nets=()).predict(_tiny())
    path = cache / settings.cache_name()
    raw = json.loads(path.read_text())
    raw["fingerprint"]["torch"] = "1.0.0"
    path.write_text(json.dumps(raw))
    with pytest.raises(LatencyError, match=r"another device fingerprint: torch '1\.0\.0' \(here '"):
        LatencyModel.open(settings, cache_dir=cache)
    result = run_cli("profile", "resnet18", "--latency", "--no-measure", "--latency-cache", str(cache))
    assert_one_line_error(result, "another device fingerprint", str(path))


def test_calibration_fit_recovers_known_coefficients(cache):
    """Synthetic whole-net figures made from known coefficients: the least-squares fit must find them."""
    model = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=())
    specs = [_tiny(), _tiny(groups=4, stride=2), _tiny(groups=16)]
    truth = {}
    for spec in specs:
        p = model.predict(spec)
        truth[json.dumps(spec, sort_keys=True)] = 2.0 * p.op_sum_ms + model.table.call_overhead_ms

    class Fake:
        def __init__(self, ms):
            self.compute_ms = ms

    cal = model.calibrate(specs, (3, 32, 32),
                          measure=lambda spec, shape=None: Fake(truth[json.dumps(spec, sort_keys=True)]))
    assert cal["nets"] == 3 and cal["scale"] == pytest.approx(2.0, rel=1e-9) and cal["per_op_ms"] == 0
    p = model.predict(_tiny())
    assert p.calibration_nets == 3 and p.latency_ms == pytest.approx(2.0 * p.op_sum_ms + p.overhead_ms)


def test_cli_profile_latency_json(cache, tmp_path):
    spec = tmp_path / "tiny net.yaml"
    spec.write_text(TINY)
    warm = LatencyModel.open(LatencySettings(), cache_dir=cache, progress=False, calibration_nets=(str(spec),))
    expected = warm.predict_ms(str(spec))  # fills the table and calibrates at 3x32x32 on the tiny net itself
    env = {"NASCOMP_LATENCY_CACHE": str(cache)}
    out = run_cli("profile", str(spec), "--latency", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["predicted_latency_ms"] == pytest.approx(expected)
    assert data["prediction"]["calibration_nets"] == 1 and data["prediction"]["ops"] == 6
    assert 0 < data["measured_q1_ms"] <= data["measured_latency_ms"] <= data["measured_q3_ms"]
    assert data["measured_cpu_ms"] > 0 and data["repeats"] >= 10
    s = data["settings"]
    assert (s["device"], s["batch_size"], s["threads"], s["dtype"], s["torch"]) == ("cpu", 1, 1, "float32", torch.__version__)
    assert data["input_shape"] == [3, 32, 32] and data["macs"] == 3 * 16 * 9 * 32 * 32 + 16 * 16 * 9 * 32 * 32 + 160

    text = run_cli("profile", str(spec), "--no-measure", "--latency-cache", str(cache))  # the prediction alone
    assert text.returncode == 0, text.stderr
    assert "predicted" in text.stdout and "measured" not in text.stdout
    assert "cpu, batch 1, 1 thread, float32, channels-last" in text.stdout and torch.__version__ in text.stdout


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threads": 0}, "threads must be an integer >= 1, found 0"),
        ({"batch_size": 0}, "batch size must be an integer >= 1, found 0"),
        ({"batch_size": "two"}, "batch size must be an integer >= 1, found 'two'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"device": "cpu", "dtype": "float16"}, "float16 autocast is a CUDA setting"),
        ({"dtype": "int8"}, "unknown dtype 'int8'"),
    ],
)
def test_bad_latency_settings(kwargs, message):
    with pytest.raises(LatencyError, match=message):
        LatencySettings(**kwargs)


def test_cli_bad_threads_one_line(cache):
    result = run_cli("profile", "resnet18", "--latency", "--latency-cache", str(cache), "--threads", "0")
    assert_one_line_error(result, "threads must be an integer >= 1, found 0")
    assert not cache.exists()  # refused before any table was started


def test_cli_more_threads_than_cores_one_line(cache):
    cores = len(os.sched_getaffinity(0))  # the cores this process may use, as the OS says
    result = run_cli("profile", "resnet18", "--latency", "--latency-cache", str(cache), "--threads", str(cores + 1))
    assert_one_line_error(result, f"threads {cores + 1} is more than the {cores} CPU core")
    assert f"pass --threads {cores} or fewer" in result.stderr
    assert not cache.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cli_absent_cuda_device_one_line(cache):
    result = run_cli("profile", "resnet18", "--latency", "--device", "cuda", "--latency-cache", str(cache))
    assert_one_line_error(result, "device 'cuda' requested but CUDA is not available here")
