"""Workers with their own seeds (issue 11): the data split belongs to the study (``data.split_seed``, part of its
identity), the sampler's and the initialisations' seed (``search.seed``) to each worker."""

from __future__ import annotations

import collections
import json
import time

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

import nascomp.search.study as study_module
from nascomp.errors import SearchError
from nascomp.search import run_search
from nascomp.search.trials import record as attrs
from nascomp.search.study_identity import upgrade_identity
from nascomp.search.outputs.report import Reporter
from nascomp.search.workers.storage import open_storage

from tests._fake_worker import start_worker, worker_env, write_grid_recipe
from tests._search import one_thread, tiny_recipe  # noqa: F401 (fixture)


def _quiet():
    return Reporter(console=Console(file=open("/dev/null", "w"), width=160), bars=False)


@pytest.fixture
def split_seeds(monkeypatch):
    """The ``seed`` each run passed to ``load_data`` (the validation split's seed)."""
    seen = []
    real = study_module.load_data

    def spy(*args, **kw):
        seen.append(kw["seed"])
        return real(*args, **kw)

    monkeypatch.setattr(study_module, "load_data", spy)
    return seen


def test_two_workers_with_their_own_seeds_join_one_study_and_count_exactly(tmp_path):
    trials = 8
    recipe = write_grid_recipe(tmp_path / "recipe", trials=trials)
    storage = f"journal:{tmp_path / 'study.log'}"
    log = tmp_path / "train.log"
    env = worker_env(log, train_s=1.0, heartbeat_s=0.5)
    first = start_worker(recipe, storage, "seeds", tmp_path / "out 0", env, extra=("--seed", "0"))
    second = None
    try:
        deadline = time.monotonic() + 90
        while not (log.exists() and "end " in log.read_text(encoding="utf-8")):  # the study exists, one trial done
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "worker 0 never finished a trial"
            time.sleep(0.05)
        second = start_worker(recipe, storage, "seeds", tmp_path / "out 1", env, extra=("--seed", "1"))
        outputs = [w.communicate(timeout=150)[0] for w in (first, second)]
    finally:
        for w in (first, second):
            if w is not None and w.poll() is None:
                w.kill()
    assert first.returncode == 0 and second.returncode == 0, outputs
    # the second worker, with another seed, joined the study the first created (a resume, not a refusal)
    assert "resuming study 'seeds'" in outputs[1] and "was run with" not in outputs[1], outputs[1]
    study = optuna.load_study(study_name="seeds", storage=open_storage(storage))
    all_trials = study.get_trials(deepcopy=False)
    counted = study_module.counted(all_trials)
    assert len(counted) == trials
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE]
    assert len(complete) == trials
    assert not [t for t in all_trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    points = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(points)) == trials  # no architecture evaluated twice
    ended = collections.Counter(line.split()[2] for line in log.read_text(encoding="utf-8").splitlines()
                                if line.startswith("end "))
    assert sorted(ended.values()) == [1] * trials
    stored = json.loads(study.user_attrs[attrs.STUDY_RECIPE])
    assert "seed" not in stored and stored["data"]["split_seed"] == 0


def test_different_seeds_draw_differently_on_the_same_split(tmp_path, split_seeds):
    runs = {}
    for seed in (0, 1):
        result = run_search(tiny_recipe(tmp_path / f"s{seed}", trials=3, seed=seed, sampler="random"),
                            reporter=_quiet())
        study = optuna.load_study(study_name=result.study_name, storage=result.storage)
        runs[seed] = [(t.params["width"], t.params["depth"]) for t in study.trials]
    assert runs[0] != runs[1]
    assert split_seeds == [0, 0]  # the validation split is the study's, not the worker's seed


def test_split_seed_is_part_of_the_study_and_seed_is_not(tmp_path, split_seeds):
    run_search(tiny_recipe(tmp_path, trials=1, seed=0), reporter=_quiet())
    joined = run_search(tiny_recipe(tmp_path, trials=2, seed=7), reporter=_quiet())  # another worker seed: joins
    assert joined.trials == 2 and split_seeds == [0, 0]
    with pytest.raises(SearchError, match=r"was run with data=.*'split_seed': 0.*split_seed': 5.*--split-seed"):
        run_search(tiny_recipe(tmp_path, trials=3, split_seed=5), reporter=_quiet())


def _make_legacy(result, seed: int) -> None:
    """Rewrite a study's stored identity as nascomp stored it before split_seed existed: one top-level seed."""
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    identity = json.loads(study.user_attrs[attrs.STUDY_RECIPE])
    identity["data"].pop("split_seed")
    identity["seed"] = seed
    study.set_user_attr(attrs.STUDY_RECIPE, json.dumps(identity))


def test_an_older_study_resumes_with_its_seed_and_keeps_its_split(tmp_path, split_seeds):
    first = run_search(tiny_recipe(tmp_path, trials=1, seed=3, split_seed=3), reporter=_quiet())
    _make_legacy(first, seed=3)
    resumed = run_search(tiny_recipe(tmp_path, trials=2, seed=3), reporter=_quiet())  # the old command line
    assert resumed.trials == 2
    assert split_seeds == [3, 3]  # the resume took the study's split seed from its old seed
    # another seed (and no split seed) would split differently: refused, naming the split seed to use
    with pytest.raises(SearchError, match=r"split_seed 3.*--split-seed"):
        run_search(tiny_recipe(tmp_path, trials=3, seed=4), reporter=_quiet())


def test_upgrade_identity_moves_the_old_seed_to_the_split():
    old = {"space": "s", "data": {"source": "digits", "val_fraction": 0.2}, "sampler": "tpe", "seed": 2}
    assert upgrade_identity(old) == {"space": "s", "data": {"source": "digits", "val_fraction": 0.2,
                                                             "split_seed": 2}, "sampler": "tpe"}
    new = {"space": "s", "data": {"source": "digits", "split_seed": 1}}
    assert upgrade_identity(new) == new


@pytest.mark.parametrize("flags, fragment", [
    ({"seed": -1}, "search.seed must be a whole number of at least 0"),
    ({"split_seed": -2}, "data.split_seed must be a whole number of at least 0"),
])
def test_bad_seeds_are_refused(tmp_path, flags, fragment):
    with pytest.raises(SearchError, match=fragment):
        tiny_recipe(tmp_path, **flags)
