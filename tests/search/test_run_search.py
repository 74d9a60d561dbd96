"""The search loop on the tiny space: hard budget, persistence and resume, dedupe, outputs, failures."""

import csv
import json
import signal

import optuna
import pytest
import torch
from optuna.trial import TrialState

import nascomp
from nascomp.errors import BudgetError, DataError, SearchError
from nascomp.search import run_search
from nascomp.search.outputs.report import Reporter
from nascomp.search.study import RECIPE_ATTR
from rich.console import Console

from tests._search import TINY_BUDGET, TINY_FITTING, one_thread, tiny_macs, tiny_recipe  # noqa: F401 (fixture)


def _quiet():
    return Reporter(console=Console(file=open("/dev/null", "w"), width=160), bars=False)


def _study(result):
    return optuna.load_study(study_name=result.study_name, storage=result.storage)


class BuildSpy:
    """``run_search``'s ``build``: the real :func:`nascomp.build`, recording every architecture the loop builds
    (i.e. trains) as (width, depth, input_shape) in ``calls``."""

    def __init__(self):
        self.calls: list[tuple[int, int, tuple[int, ...]]] = []

    def __call__(self, spec, **kw):
        self.calls.append((spec.params["width"], spec.params["depth"], tuple(spec.input_shape)))
        return nascomp.build(spec, **kw)


def test_short_search_writes_everything_and_never_trains_over_budget(tmp_path):
    spy = BuildSpy()
    result = run_search(tiny_recipe(tmp_path, trials=3), reporter=_quiet(), build=spy)
    built = spy.calls
    study = _study(result)
    assert len(study.trials) == 3 and result.trials == 3
    # the hard budget: every trial's MACs fit, and only fitting points were ever built
    assert all(t.user_attrs["macs"] <= TINY_BUDGET for t in study.trials)
    assert {(w, d) for w, d, _ in built} <= TINY_FITTING and len(built) == 3
    assert all(shape == (3, 8, 8) for _, _, shape in built)  # the proxy resolution, not the budget's
    assert result.screened >= 3 and result.screened_fit == 3
    out = tmp_path / "run"
    for name in ("best.yaml", "trials.csv", "history.png", "pareto.png", "study.db"):
        assert (out / name).is_file(), name
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # best.yaml is a plain spec that rebuilds with the recorded MACs and params, at the budget's input shape
    best = study.best_trial
    prof = nascomp.profile(str(out / "best.yaml"))
    assert (prof.macs, prof.params) == (best.user_attrs["macs"], best.user_attrs["params"])
    assert prof.macs == tiny_macs(best.params["width"], best.params["depth"])
    assert prof.input_shape == (3, 16, 16)
    model = nascomp.build(str(out / "best.yaml"))
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) >= {"number", "state", "width", "depth", "macs", "params", "accuracy", "seconds", "reason"}
    assert all(int(r["macs"]) <= TINY_BUDGET for r in rows)


def test_resume_counts_the_study_total(tmp_path):
    first = run_search(tiny_recipe(tmp_path, trials=3), reporter=_quiet())
    second = run_search(tiny_recipe(tmp_path, trials=5), reporter=_quiet())
    study = _study(second)
    assert len(study.trials) == 5 and second.trials == 5 and second.trained <= 2
    again = run_search(tiny_recipe(tmp_path, trials=5), reporter=_quiet())  # already complete: nothing to do
    assert again.trained == 0 and len(_study(again).trials) == 5
    assert first.study_name == second.study_name == "tiny"


def test_a_point_already_evaluated_is_not_retrained(tmp_path):
    # four points fit; the fifth trial must repeat one and reuse its result
    spy = BuildSpy()
    result = run_search(tiny_recipe(tmp_path, trials=5, pruner="none"), reporter=_quiet(), build=spy)
    built = spy.calls
    study = _study(result)
    assert len(built) == 4 and {(w, d) for w, d, _ in built} == TINY_FITTING
    reused = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert len(reused) == 1
    original = study.trials[reused[0].user_attrs["duplicate_of"]]
    assert reused[0].params == original.params and reused[0].state == original.state
    if original.state == TrialState.COMPLETE:
        assert reused[0].value == original.value


def test_same_seed_same_trials(tmp_path):
    a = _study(run_search(tiny_recipe(tmp_path / "a", trials=3), reporter=_quiet()))
    b = _study(run_search(tiny_recipe(tmp_path / "b", trials=3), reporter=_quiet()))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.values for t in a.trials] == [t.values for t in b.trials]


def test_failed_trial_is_recorded_and_the_study_goes_on(tmp_path):
    from nascomp.train import TrainingDiverged, fit as real_fit

    calls = []

    def flaky(model, data, config, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise TrainingDiverged("loss became nan at epoch 1, step 3")
        return real_fit(model, data, config, **kw)

    result = run_search(tiny_recipe(tmp_path, trials=3), reporter=_quiet(), fit=flaky)
    study = _study(result)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and "TrainingDiverged: loss became nan" in failed[0].user_attrs["reason"]
    assert len(study.trials) == 3 and result.best is not None and result.best.number != failed[0].number
    rows = list(csv.DictReader(open(tmp_path / "run" / "trials.csv")))
    assert rows[failed[0].number]["state"] == "FAIL" and "nan" in rows[failed[0].number]["reason"]


def test_ctrl_c_stops_after_the_current_step_and_saves(tmp_path):
    from nascomp.train import fit as real_fit

    seen = []

    def interrupting(model, data, config, *, should_stop, **kw):
        seen.append(1)
        if len(seen) == 2:  # the user presses Ctrl-C during the second trial
            signal.raise_signal(signal.SIGINT)  # caught by the run's nascomp._stop.StopFlag
        return real_fit(model, data, config, should_stop=should_stop, **kw)

    result = run_search(tiny_recipe(tmp_path, trials=4), reporter=_quiet(), fit=interrupting)
    assert result.interrupted
    study = _study(result)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert study.trials[1].user_attrs["interrupted"] and "Ctrl-C" in study.trials[1].user_attrs["reason"]
    assert (tmp_path / "run" / "trials.csv").is_file() and (tmp_path / "run" / "best.yaml").is_file()
    # resuming (with the real fit) does not count the interrupted trial
    resumed = run_search(tiny_recipe(tmp_path, trials=2), reporter=_quiet())
    assert resumed.trials == 2 and len(_study(resumed).trials) == 3


def test_resume_with_other_settings_is_refused(tmp_path):
    run_search(tiny_recipe(tmp_path, trials=1), reporter=_quiet())
    with pytest.raises(SearchError, match="was run with train=.*start a new study with --study-name"):
        run_search(tiny_recipe(tmp_path, trials=2, epochs=2), reporter=_quiet())


def test_study_records_its_recipe(tmp_path):
    result = run_search(tiny_recipe(tmp_path, trials=1), reporter=_quiet())
    stored = json.loads(_study(result).user_attrs[RECIPE_ATTR])
    assert stored["budget"] == TINY_BUDGET and stored["input_shape"] == [3, 16, 16] and stored["num_classes"] == 10


def test_journal_storage(tmp_path):
    url = f"journal:{tmp_path / 'my journal.log'}"
    result = run_search(tiny_recipe(tmp_path, trials=2, storage=url), reporter=_quiet())
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "my journal.log")))
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 2
    assert not (tmp_path / "run" / "study.db").exists() and result.storage == url


def test_multi_objective_pareto(tmp_path):
    result = run_search(tiny_recipe(tmp_path, trials=3, objectives="accuracy,macs"), reporter=_quiet())
    study = _study(result)
    assert len(study.directions) == 2
    assert all(t.values[1] == t.user_attrs["macs"] for t in study.trials if t.state == TrialState.COMPLETE)
    assert (tmp_path / "run" / "pareto.png").is_file() and (tmp_path / "run" / "best.yaml").is_file()


def test_bad_inputs_write_nothing(tmp_path):
    with pytest.raises(BudgetError, match="no architecture of space 'tiny' fits"):
        run_search(tiny_recipe(tmp_path, budget="10KMACs"), reporter=_quiet())
    with pytest.raises(DataError, match="does not exist"):
        run_search(tiny_recipe(tmp_path, data=f"imagefolder:{tmp_path / 'nope'}"), reporter=_quiet())
    with pytest.raises(SearchError, match="cannot open storage"):
        run_search(tiny_recipe(tmp_path, storage="sqlite:///" + str(tmp_path / "no" / "such" / "x.db")),
                   reporter=_quiet())
    assert not (tmp_path / "run").exists()


def test_pareto_front():
    from nascomp.search.outputs.study_files import pareto_front

    pts = [(10, 0.5), (5, 0.6), (20, 0.9), (15, 0.4), (20, 0.8), (30, 0.9)]
    assert pareto_front(pts) == [1, 2]



def test_report_regenerates_a_recorded_study(tmp_path):
    from nascomp.search.outputs.regenerate import regenerate_outputs

    result = run_search(tiny_recipe(tmp_path, trials=2), reporter=_quiet())
    regenerate_outputs(result.storage, result.study_name, str(tmp_path / "report out"))
    for name in ("best.yaml", "trials.csv", "history.png", "pareto.png"):
        assert (tmp_path / "report out" / name).is_file()
    assert (tmp_path / "report out" / "best.yaml").read_text() == (tmp_path / "run" / "best.yaml").read_text()


def test_changed_domain_is_refused_on_resume(tmp_path):
    run_search(tiny_recipe(tmp_path, trials=1), reporter=_quiet())
    recipe = tiny_recipe(tmp_path, trials=2)  # (re)writes the space file; then change one domain
    space = tmp_path / "tiny space.yaml"
    space.write_text(space.read_text().replace("choices: [4, 8, 16]", "choices: [4, 8, 12]"))
    with pytest.raises(SearchError, match=r"was run with dimensions=.*'width': '\{4, 8, 16\}'"):
        run_search(recipe, reporter=_quiet())


def test_device_choice(tmp_path):
    from nascomp._device import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(SearchError, match="unknown device 'gpu0'"):
        resolve_device("gpu0", error=SearchError)
    if not torch.cuda.is_available():
        with pytest.raises(SearchError, match="CUDA is not available here; use --device cpu"):
            run_search(tiny_recipe(tmp_path, device="cuda"), reporter=_quiet())
        assert not (tmp_path / "run").exists()
