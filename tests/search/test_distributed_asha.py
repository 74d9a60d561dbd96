"""Paused trials across workers (issue 19): a worker killed with kill -9 while it trains a resumed trial loses only
that trial's progress since its saved rung; another worker resumes it from the saved state in the artifact store."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nascomp.search.trials import record as attrs
from tests._fake_worker import start_worker, worker_env
from tests.conftest import require_service
from tests.search.test_distributed import _fresh_database, _open, _postgres_up

GRID_ASHA = """\
space: '{space}'
budget: 2MFLOPs
input_shape: [3, 8, 8]
data: {{source: digits, image_size: 8, val_fraction: 0.2, max_images: 400}}
train: {{epochs: 3, batch_size: 16, data_fractions: [0.1111, 0.3333, 1.0]}}
search: {{sampler: random, pruner: sha, trials: 4, seed: 0, census: 10}}
device: cpu
"""


def _recipe(folder: Path) -> Path:
    from tests._fake_worker import GRID_SPACE

    folder.mkdir(parents=True, exist_ok=True)
    space = folder / "grid space.yaml"
    space.write_text(GRID_SPACE, encoding="utf-8")
    recipe = folder / "grid asha.yaml"
    recipe.write_text(GRID_ASHA.format(space=space), encoding="utf-8")
    return recipe


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_killed_in_a_resumed_trial_is_resumed_by_another_from_the_saved_state(tmp_path):
    url = os.environ.get("NASCOMP_TEST_POSTGRES_URL", "")
    require_service(_postgres_up(url), "PostgreSQL (NASCOMP_TEST_POSTGRES_URL)")
    recipe = _recipe(tmp_path / "recipe dir")
    out = tmp_path / "shared out"  # the artifact store (out/artifacts) is shared by both workers
    # stale after 3 s without a beat; 0.4 s steps make a resumed rung last seconds (7 steps at rung 1), so that the
    # kill lands inside it even on a loaded machine
    env = {**worker_env(heartbeat_s=0.5), "NASCOMP_FAKE_STEP_S": "0.4"}
    with _fresh_database(url) as storage:
        name = f"asha-{uuid.uuid4().hex[:8]}"
        victim = start_worker(recipe, storage, name, out, env)
        try:
            deadline = time.monotonic() + 240
            killed = None
            while killed is None:
                assert victim.poll() is None, f"the worker ended before resuming a trial:\n{victim.stdout.read()}"
                assert time.monotonic() < deadline, "the worker never resumed a paused trial"
                time.sleep(0.1)
                try:
                    study = optuna.load_study(study_name=name, storage=_open(storage))
                except KeyError:
                    continue
                for t in study.get_trials(deepcopy=False):
                    if t.state == TrialState.RUNNING and t.user_attrs.get(attrs.RESUMES) is not None \
                            and t.user_attrs.get(attrs.TRAINING):
                        killed = t
            time.sleep(0.2)  # inside its first resumed epoch
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            survivor = start_worker(recipe, storage, name, out, env)
            output = survivor.communicate(timeout=300)[0]
        finally:
            for w in (victim, locals().get("survivor")):
                if w is not None and w.poll() is None:
                    w.kill()
        assert survivor.returncode == 0, output
        study = optuna.load_study(study_name=name, storage=_open(storage))
        trials = study.get_trials(deepcopy=False)
        summary = "\n".join(f"{t.number} {t.state.name} {t.params} {dict(t.user_attrs)}" for t in trials)
        lost = trials[killed.number]
        assert lost.state == TrialState.FAIL, summary
        retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
        # the retry resumed the same saved state (nothing restarted from scratch) and carried the lineage on
        assert retry.user_attrs[attrs.RESUMES] == killed.user_attrs[attrs.RESUMES], summary
        assert not retry.user_attrs.get(attrs.RESTARTED), summary
        assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED), summary
        paused = trials[int(killed.user_attrs[attrs.RESUMES])]
        for step, value in paused.intermediate_values.items():  # the rungs before the kill are kept as they were
            assert retry.intermediate_values[step] == value, summary
        assert any(t.state == TrialState.COMPLETE for t in trials), summary
        assert f"trial {killed.number}: its worker stopped beating" in output
        # every saved training state was consumed or finally pruned: none left behind (the store also holds the
        # study's own files, best.yaml and the plots, attached for optuna-dashboard)
        saved = {t.user_attrs[attrs.STATE_ARTIFACT] for t in trials if t.user_attrs.get(attrs.STATE_ARTIFACT)}
        assert saved and not saved & set(os.listdir(out / "artifacts")), summary


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_with_their_own_out_share_a_named_store_and_one_without_it_is_refused(tmp_path):
    """``--artifact-store``: on PostgreSQL, workers with different ``--out`` folders share the study's saved states
    through the named store; a worker whose store is its own ``<out>/artifacts`` is refused before it trains."""
    url = os.environ.get("NASCOMP_TEST_POSTGRES_URL", "")
    require_service(_postgres_up(url), "PostgreSQL (NASCOMP_TEST_POSTGRES_URL)")
    recipe = _recipe(tmp_path / "recipe dir")
    store = tmp_path / "shared store"
    env = {**worker_env(), "NASCOMP_FAKE_STEP_S": "0"}  # real training (pauses and saved states), tiny and fast
    with _fresh_database(url) as storage:
        name = f"store-{uuid.uuid4().hex[:8]}"
        first = start_worker(recipe, storage, name, tmp_path / "out 0", env,
                             extra=("--trials", "2", "--artifact-store", str(store)))
        assert first.wait(timeout=240) == 0, first.stdout.read()
        refused = start_worker(recipe, storage, name, tmp_path / "out 1", env, extra=("--trials", "4"))
        output = refused.communicate(timeout=240)[0]
        assert refused.returncode == 2, output
        assert f"keeps the saved states of its paused trials in the artifact store '{store.resolve()}'" in output
        assert "Traceback" not in output and not (tmp_path / "out 1" / "artifacts").exists()
        joined = start_worker(recipe, storage, name, tmp_path / "out 2", env,
                              extra=("--trials", "4", "--artifact-store", str(store)))
        assert joined.wait(timeout=240) == 0, joined.stdout.read()
        study = optuna.load_study(study_name=name, storage=_open(storage))
        assert study.user_attrs["nascomp_artifact_store"] == str(store.resolve())
        promotions = [t for t in study.trials if t.user_attrs.get(attrs.RESUMES) is not None]
        summary = "\n".join(f"{t.number} {t.state.name} {t.user_attrs}" for t in study.trials)
        assert promotions and any(t.state == TrialState.COMPLETE for t in promotions), summary  # read from the store
        assert not (tmp_path / "out 0" / "artifacts").exists() and not (tmp_path / "out 2" / "artifacts").exists()
