"""``--artifact-store``: the paused trials' saved states (and the dashboard files) in a store named by flag, one
store per study (issue 19: "a folder beside the study by default, any Optuna artifact store by flag")."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import optuna
import pytest
from rich.console import Console

from nascomp.errors import SearchError
from nascomp.search import load_recipe, run_search
from nascomp.search.trials import record as attrs
from nascomp.search.workers.artifact_store import STUDY_ARTIFACT_STORE, check_study_store, parse_artifact_store
from nascomp.search.outputs.artifacts import STUDY_ARTIFACTS
from nascomp.search.outputs.report import Reporter
from nascomp.search.trials.saved_states import SavedStates

from tests._cli import assert_one_line_error, run_cli
from tests._search import one_thread, write_tiny_space  # noqa: F401 (fixture)


def _recipe_file(folder: Path) -> Path:
    """The tiny space with three rungs of successive halving (paused trials), as a recipe file the CLI reads too."""
    space = write_tiny_space(folder)
    path = folder / "tiny recipe.yaml"
    path.write_text(
        f"space: {json.dumps(str(space))}\n"
        "budget: 300000\n"
        "input_shape: [3, 16, 16]\n"
        "data: {source: digits, image_size: 8, val_fraction: 0.2}\n"
        "train: {epochs: 3, data_fractions: [0.1111111111111111, 0.3333333333333333, 1.0], batch_size: 64}\n"
        "search: {sampler: tpe, pruner: sha, trials: 4, seed: 0, census: 20}\n"
        "study_name: tiny\n"
        "device: cpu\n", encoding="utf-8")
    return path


def test_a_folder_store_holds_the_saved_states_and_every_worker_must_name_it(tmp_path, monkeypatch):
    recipe_path = _recipe_file(tmp_path)
    store = tmp_path / "shared store"
    out = tmp_path / "run"
    saved = []
    real_save = SavedStates.save

    def save_and_look(self, trial, state):
        artifact = real_save(self, trial, state)
        saved.append((store / artifact).is_file())  # uploaded into the named folder, nowhere else
        return artifact

    monkeypatch.setattr(SavedStates, "save", save_and_look)
    recipe = load_recipe(recipe_path).with_overrides(out=str(out), artifact_store=str(store))
    result = run_search(recipe, reporter=Reporter(console=Console(file=io.StringIO()), bars=False))
    study = optuna.load_study(study_name=result.study_name, storage=result.storage)
    promotions = [t for t in study.trials if t.user_attrs.get(attrs.RESUMES) is not None]
    assert saved and all(saved) and promotions  # states were saved there and read back by the promotions
    assert result.best is not None and (out / "best.yaml").is_file()
    assert study.user_attrs[STUDY_ARTIFACT_STORE] == str(store.resolve())
    # the states are gone at the end; what is left is the dashboard files, in the same store, and no <out>/artifacts
    files = {v["artifact_id"] for v in json.loads(study.user_attrs[STUDY_ARTIFACTS]).values()}
    assert {p.name for p in store.iterdir()} == files and not (out / "artifacts").exists()

    # a second worker of the study without the flag (its store: <out>/artifacts) is refused before it trains
    # (another named store: test_a_study_records_its_store_refuses_another_and_follows_a_moved_folder)
    refused = run_cli("search", str(recipe_path), "--out", str(out), "--trials", "6", "--no-progress")
    assert_one_line_error(refused, "keeps the saved states of its paused trials in the artifact store",
                          f"'{store.resolve()}'", f"this worker asks '{(out / 'artifacts').resolve()}'",
                          f"pass --artifact-store {store.resolve()}")
    assert len(optuna.load_study(study_name="tiny", storage=result.storage).trials) == len(study.trials)


@pytest.mark.skipif(importlib.util.find_spec("boto3") is not None, reason="boto3 is installed here")
@pytest.mark.parametrize("store, fragments", [
    ("ftp://host/states", ("unsupported scheme 'ftp://'", "s3://BUCKET", "gs://BUCKET", "folder path")),
    ("s3://my-bucket", ("needs Optuna's Boto3ArtifactStore", "pip install boto3")),
])
def test_an_unsupported_store_is_one_line_and_exit_2(tmp_path, store, fragments):
    out = tmp_path / "out dir"
    result = run_cli("search", "--budget", "600MFLOPs", "--data", "digits", "--out", str(out), "--trials", "1",
                     "--artifact-store", store, "--no-progress")
    assert_one_line_error(result, f"--artifact-store '{store}'", *fragments)
    assert not out.exists()  # nothing written


def test_parse_artifact_store(tmp_path):
    assert parse_artifact_store(None, tmp_path / "run").describe() == str((tmp_path / "run" / "artifacts").resolve())
    assert parse_artifact_store("gs://b-1/", tmp_path).describe() == "gs://b-1"
    (tmp_path / "a file").write_text("x")
    for value, fragment in [("s3://bucket/prefix", "without a path"), ("s3://key:secret@bucket", "credentials"),
                            (str(tmp_path / "a file" / "sub"), "is a file, not a folder"),
                            ("http://host/x", "unsupported scheme")]:
        with pytest.raises(SearchError, match=fragment) as err:
            parse_artifact_store(value, tmp_path)
        assert "secret" not in str(err.value)


def test_a_study_records_its_store_refuses_another_and_follows_a_moved_folder(tmp_path):
    study = optuna.create_study(study_name="s")
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    check_study_store(study, parse_artifact_store(str(first), tmp_path), "memory")
    assert study.user_attrs[STUDY_ARTIFACT_STORE] == str(first.resolve())
    with pytest.raises(SearchError, match=f"in the artifact store '{first.resolve()}', this worker asks "
                                          f"'{other.resolve()}'"):
        check_study_store(study, parse_artifact_store(str(other), tmp_path), "memory")
    with pytest.raises(SearchError, match="pass --artifact-store"):
        check_study_store(study, parse_artifact_store("s3://bucket", tmp_path), "memory")
    first.rename(tmp_path / "moved")  # the run folder was moved: the recorded folder is gone, the new one is taken
    check_study_store(study, parse_artifact_store(str(tmp_path / "moved"), tmp_path), "memory")
    assert study.user_attrs[STUDY_ARTIFACT_STORE] == str((tmp_path / "moved").resolve())
