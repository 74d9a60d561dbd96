"""Latency and memory budgets in the search (issue 20): unit parsing, the sampler screening on the prediction, the
gate failing a candidate measured over budget (both figures recorded, never trained), a budget below the space's
fastest point, the recipe's ``latency:`` section, and the command line's one-line errors.

Predictions and measurements are stand-ins passed in (``HardwareGate(predict_ms=..., measure_ms=...)``), so the
figures are known exactly; the end-to-end test at the bottom uses the real latency model on the tiny space.
"""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import optuna
import pytest
import rich.console
import torch
import yaml

from tests._cli import assert_one_line_error, run_cli
from tests._search import TINY_BUDGET, one_thread, tiny_recipe, write_tiny_space  # noqa: F401 - fixture
from nascomp._stop import StopFlag
from nascomp.errors import BudgetError, SearchError
from nascomp.hardware import LatencyModel, LatencySettings
from nascomp.hardware.budgets import parse_latency_budget, parse_memory_budget
from nascomp.search.space.hardware_gate import HardwareGate, check_feasible
from nascomp.search.trials.loop_inputs import Deadline, Training
from nascomp.search.trials.trial_loop import SearchLoop
from nascomp.search.recipe import load_recipe
from nascomp.search.outputs.report import Reporter
from nascomp.search.space.sampler import BudgetSampler
from nascomp.search.space.search_space import load_space
from nascomp.search.workers.coordinator import Coordinator
from nascomp.train import FitResult
from nascomp.search.trials import record as attrs


# -- units ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ms", [("40ms", 40.0), ("40 ms", 40.0), ("0.04s", 40.0), ("40000us", 40.0),
                                      ("1.5ms", 1.5), ("250µs", 0.25)])
def test_latency_budgets_with_a_time_unit_parse_to_milliseconds(text: str, ms: float) -> None:
    assert parse_latency_budget(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["40", "40 mb", "40MB", "ms", "-40ms", "0ms", "40 Ms", "forty ms"])
def test_latency_budgets_without_a_time_are_refused(text: str) -> None:
    with pytest.raises(BudgetError, match="latency budget|positive time"):
        parse_latency_budget(text)


@pytest.mark.parametrize("text, n", [("8GiB", 8 * 2**30), ("8 gib", 8 * 2**30), ("512MB", 512 * 10**6),
                                     ("1.5KiB", 1536), ("100B", 100)])
def test_memory_budgets_parse_to_bytes(text: str, n: int) -> None:
    assert parse_memory_budget(text) == n


@pytest.mark.parametrize("text", ["8", "8 ms", "8GFLOPs", "-1GiB", "0.1B"])
def test_memory_budgets_without_a_size_unit_are_refused(text: str) -> None:
    with pytest.raises(BudgetError, match="memory budget"):
        parse_memory_budget(text)


# -- the sampler screens on the prediction ----------------------------------------------------------------------
# Tiny space under TINY_BUDGET MACs: (width, depth) in {(4, 1), (4, 2), (4, 3), (8, 1)}. Stand-in latency:
# width * depth ms, so a 10 ms budget admits (4, 1), (4, 2), (8, 1) and refuses (4, 3) (12 ms).
def _predict(point: dict) -> float:
    return float(point["width"] * point["depth"])


def test_sampler_never_proposes_a_point_predicted_over_the_latency_budget(tmp_path: Path) -> None:
    space = load_space(write_tiny_space(tmp_path))
    cost = lambda p: space.cost(p, input_shape=(3, 16, 16), num_classes=10).macs  # noqa: E731
    gate = HardwareGate(latency_budget_ms=10.0, predict_ms=_predict, settings="stand-in")
    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=0), space, cost, TINY_BUDGET, seed=0,
                            screen=gate.screen)
    study = optuna.create_study(sampler=sampler)
    seen, refused = set(), 0
    for _ in range(30):
        trial = study.ask()
        point = space.suggest(trial)
        stats = sampler.draw_stats(trial.number)
        refused += sum("predicted latency 12.0 ms > budget 10.0 ms" in r for r in stats.reasons)
        seen.add((point["width"], point["depth"]))
    assert seen == {(4, 1), (4, 2), (8, 1)}
    assert refused > 0  # (4, 3) fits the MACs and was drawn, then thrown away on its prediction


def test_memory_budget_screens_on_the_predicted_memory() -> None:
    gate = HardwareGate(memory_budget_bytes=2**20, predict_memory=lambda p: p["depth"] * 2**19)
    assert gate.screen({"depth": 2}) is None
    assert gate.screen({"depth": 3}) == "predicted training memory 1.50 MiB > budget 1.00 MiB"


# -- the gate: measured once, failed with both figures, never trained ------------------------------------------
def _run_loop(tmp_path: Path, gate: HardwareGate, *, target: int, second: str = "macs", stop: StopFlag | None = None):
    space = load_space(write_tiny_space(tmp_path))

    def cost(point):
        return space.cost(point, input_shape=(3, 16, 16), num_classes=10)

    url = f"sqlite:///{tmp_path / 'study.db'}"
    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=0), space, lambda p: cost(p).macs, TINY_BUDGET,
                            seed=0, screen=gate.screen)
    multi = second == "latency"
    study = optuna.create_study(storage=url, sampler=sampler,
                                directions=["maximize", "minimize"] if multi else ["maximize"])
    built: list[tuple[int, int]] = []

    def build(point):
        built.append((point["width"], point["depth"]))
        return torch.nn.Linear(1, 1)

    def fit(model, *, on_epoch, on_step, should_stop):
        on_epoch(0, 0.5)
        return FitResult(accuracy=0.5, history=[0.5])

    loop = SearchLoop(
        study=study, space=space, sampler=sampler, cost=cost, budget=TINY_BUDGET, target=target,
        multi_objective=multi, training=Training(build=build, fit=fit, epochs=1, steps_per_epoch=1),
        coordinator=Coordinator(study, url, list(space.dimensions), note=lambda s: None),
        reporter=Reporter(console=rich.console.Console(file=io.StringIO()), bars=False), stop=stop or StopFlag(),
        deadline=Deadline(started=time.perf_counter(), timeout=None), hardware=gate, second_objective=second)
    loop.run()
    return study, built


def test_a_candidate_measured_over_the_budget_is_failed_with_both_figures_and_never_trained(tmp_path: Path) -> None:
    measured_calls: list[tuple[int, int]] = []

    def measure(point):  # width 8 runs 1.5x slower than predicted: (8, 1) is predicted 8 ms, measured 12 ms
        measured_calls.append((point["width"], point["depth"]))
        return _predict(point) * (1.5 if point["width"] == 8 else 1.0)

    gate = HardwareGate(latency_budget_ms=10.0, predict_ms=_predict, measure_ms=measure, settings="stand-in cpu")
    study, built = _run_loop(tmp_path, gate, target=3)
    trials = {(t.params["width"], t.params["depth"]): t for t in study.trials}
    assert set(trials) == {(4, 1), (4, 2), (8, 1)}
    slow = trials[(8, 1)]
    assert slow.state == optuna.trial.TrialState.FAIL
    assert slow.user_attrs[attrs.PREDICTED_LATENCY_MS] == 8.0
    assert slow.user_attrs[attrs.MEASURED_LATENCY_MS] == 12.0
    assert slow.user_attrs[attrs.REASON] == ("measured latency 12.0 ms > budget 10.0 ms (predicted 8.0 ms; stand-in "
                                             "cpu); not trained")
    assert (8, 1) not in built and sorted(built) == [(4, 1), (4, 2)]
    assert sorted(measured_calls) == [(4, 1), (4, 2), (8, 1)]  # once per candidate, before training
    for point in ((4, 1), (4, 2)):
        assert trials[point].state == optuna.trial.TrialState.COMPLETE
        assert trials[point].user_attrs[attrs.MEASURED_LATENCY_MS] == _predict(dict(width=point[0], depth=point[1]))


def test_a_stop_while_a_prediction_measures_new_ops_ends_the_loop_and_the_trial_is_not_counted(tmp_path: Path) -> None:
    stop = StopFlag()
    predicted: list[tuple[int, int]] = []

    def predict(point):  # the real model measures a new point's missing ops here; the stop arrives on the second
        predicted.append((point["width"], point["depth"]))
        if len(predicted) == 2:
            stop.request(signal.SIGTERM)
            stop.check("stopped measuring the latency lookup table after 1 of 4 operator configurations")
        return _predict(point)

    gate = HardwareGate(latency_budget_ms=100.0, predict_ms=predict, measure_ms=_predict, settings="stand-in")
    study, built = _run_loop(tmp_path, gate, target=4, stop=stop)
    last = study.trials[-1]
    assert last.state == optuna.trial.TrialState.FAIL and last.user_attrs[attrs.WITHDRAWN] is True  # never counts
    assert last.user_attrs[attrs.REASON] == ("interrupted by SIGTERM: stopped measuring the latency lookup table "
                                             "after 1 of 4 operator configurations; closed unused (nothing trained)")
    assert len(predicted) == 2 and len(built) == len(study.trials) - 1 <= 1  # nothing drawn or trained after it
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in study.trials)


def test_accuracy_latency_objectives_tell_the_measured_latency(tmp_path: Path) -> None:
    gate = HardwareGate(predict_ms=_predict, measure_ms=lambda p: _predict(p) + 0.25, settings="stand-in",
                        measure=True)
    study, built = _run_loop(tmp_path, gate, target=2, second="latency")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2
    for t in complete:
        assert t.values[1] == _predict(t.params) + 0.25 == t.user_attrs[attrs.MEASURED_LATENCY_MS]


def test_a_budget_below_the_fastest_point_names_its_latency(tmp_path: Path) -> None:
    space = load_space(write_tiny_space(tmp_path))
    gate = HardwareGate(latency_budget_ms=3.0, predict_ms=_predict, settings="stand-in")
    with pytest.raises(BudgetError, match=r"latency budget of 3\.0 ms: the lowest found is 4\.0 ms .*width=4, depth=1"):
        check_feasible(gate, space, samples=5, seed=0)
    check_feasible(HardwareGate(latency_budget_ms=4.0, predict_ms=_predict), space, samples=5, seed=0)


# -- the recipe --------------------------------------------------------------------------------------------------
def test_recipe_latency_section_and_budgets_are_read(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("space: se_resnext\nlatency_budget: 0.04s\nmemory_budget: 8GiB\n"
                    "latency: {device: cpu, batch_size: 4, threads: 2}\n", encoding="utf-8")
    recipe = load_recipe(str(path))
    assert (recipe.latency_budget, recipe.memory_budget) == (40.0, 8 * 2**30)
    assert (recipe.latency.device, recipe.latency.batch_size, recipe.latency.threads) == ("cpu", 4, 2)
    assert recipe.identity()["hardware"]["latency_budget_ms"] == 40.0
    flags = recipe.with_overrides(latency_budget="25ms", latency_threads=1)
    assert (flags.latency_budget, flags.latency.threads, flags.latency.batch_size) == (25.0, 1, 4)
    assert "hardware" not in load_recipe().identity()  # studies without hardware budgets keep their identity


@pytest.mark.parametrize("text, fragment", [("latency_budget: 40\n", "not a time"),
                                            ("latency: {device: cpu, thread: 2}\n", "latency.thread"),
                                            ("latency: {batch_size: 0}\n", "latency.batch_size")])
def test_bad_recipe_hardware_fields_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SearchError, match=fragment) as info:
        load_recipe(str(path))
    assert str(path) in str(info.value)


# -- the command line ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    (["--latency-budget", "40"], ["latency budget '40' is not a time", "40ms"]),
    (["--latency-budget", "40 mb"], ["latency budget '40 mb' is not a time"]),
    (["--memory-budget", "8"], ["memory budget '8' is not an amount of memory", "8GiB"]),
])
def test_cli_bad_hardware_budgets_are_one_line(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = run_cli("search", *args, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_absent_latency_device_is_one_line(tmp_path: Path) -> None:
    result = run_cli("search", "--latency-budget", "40ms", "--latency-device", "cuda", "--data", "digits",
                     "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(result, "latency device 'cuda'", "CUDA is not available", "--latency-device cpu")
    assert not (tmp_path / "run").exists()


def _tiny_cli(tmp_path: Path, *args: str):
    space = write_tiny_space(tmp_path / "space dir")
    return run_cli("search", "--space", str(space), "--data", "digits", "--input-shape", "3x16x16",
                   "--budget", str(TINY_BUDGET), "--image-size", "8", "--epochs", "1", "--pruner", "median",
                   "--census", "5", "--device", "cpu", "--timeout", "none", "--no-progress",
                   "--out", str(tmp_path / "run"), *args, cwd=tmp_path,
                   env={"NASCOMP_LATENCY_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"})


def test_cli_latency_budget_below_the_fastest_point_is_one_line(tmp_path: Path) -> None:
    # a one-net calibration at the search's shape, kept in the cache beforehand: the default one measures 12 nets
    # (tests/test_latency_fit.py covers it; the slow test below runs it end to end)
    LatencyModel.open(LatencySettings(), cache_dir=tmp_path / "cache", progress=False,
                      calibration_nets=("resnet18",)).calibration_for((3, 16, 16))
    result = _tiny_cli(tmp_path, "--latency-budget", "1us", "--trials", "1")
    line = assert_one_line_error(result, "no architecture of space 'tiny' meets the latency budget of 0.001 ms",
                                 "the lowest found is", "width=4, depth=1")
    assert "predicted at cpu, batch 1, 1 thread" in line


@pytest.mark.slow  # an end-to-end search with the real latency model: about 10 s idle, 27 s on a loaded machine
def test_latency_budget_search_records_measured_latency_in_best_yaml(tmp_path: Path) -> None:
    result = _tiny_cli(tmp_path, "--latency-budget", "1s", "--trials", "2")
    assert result.returncode == 0, result.stderr
    best = (tmp_path / "run" / "best.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(best)["doc"]
    assert "Measured latency:" in doc and "cpu, batch 1, 1 thread, float32, channels-last" in doc
    assert "budget 1000 ms" in doc
    import csv

    rows = list(csv.DictReader((tmp_path / "run" / "trials.csv").open(encoding="utf-8")))
    assert rows and all(float(r["measured_latency_ms"]) > 0 and float(r["predicted_latency_ms"]) > 0
                        for r in rows if r["state"] == "COMPLETE")
