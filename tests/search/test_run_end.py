"""Issue 22, items 8 and 9: a run with no winner ends tidily (no empty plots, no matplotlib warning, no hand-over
of a winner that does not exist, a plain next step); output that is not a terminal gets a line per epoch; the
files are attached to the study as Optuna artifacts, once per content."""

from __future__ import annotations

import json
import warnings

import optuna
import optuna.artifacts

from tests._cli import run_cli
from tests._search import write_tiny_space
from nascomp.search.outputs.artifacts import ARTIFACT_DIR, STUDY_ARTIFACTS, attach_artifacts
from nascomp.search.outputs.study_files import write_plots

ENV = {"OMP_NUM_THREADS": "1", "COLUMNS": "160"}


def _tiny_args(tmp_path, out: str, *extra: str) -> list[str]:
    space = write_tiny_space(tmp_path / "my spaces")
    return ["search", "--space", str(space), "--budget", "300KMACs", "--input-shape", "3x16x16", "--epochs", "1",
            "--image-size", "8", "--census", "10", "--data", "digits", "--pruner", "median", "--out", out, *extra]


def test_a_run_the_time_limit_ends_before_any_trial_says_so_plainly(tmp_path):
    """The issue's `--timeout 1s`: data and census alone take longer than the limit here."""
    result = run_cli(*_tiny_args(tmp_path, "out dir", "--timeout", "0.001s", "--trials", "3"), cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no "No artists with labels" warning, no traceback
    assert "No trial finished, so there is no winner yet: no best.yaml was written." in result.stdout
    assert "rerun the same command with a longer --timeout" in result.stdout
    assert "Next: train the winner" not in result.stdout and "Top trials" not in result.stdout
    out = tmp_path / "out dir"
    assert not any((out / name).exists() for name in ("best.yaml", "history.png", "pareto.png"))
    assert (out / "trials.csv").read_text().count("\n") == 1  # the header only


def test_plots_are_written_only_when_they_have_something_to_show(tmp_path):
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found" would fail here
        assert write_plots(study, tmp_path) == []
        failed = study.ask()
        study.tell(failed, state=optuna.trial.TrialState.FAIL)
        assert [p.name for p in write_plots(study, tmp_path)] == ["history.png"]  # the failure drawn at 0
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "pareto.png").exists()


def test_a_logged_search_prints_a_line_per_epoch_and_attaches_its_files_as_artifacts(tmp_path):
    result = run_cli(*_tiny_args(tmp_path, "out dir", "--trials", "2", "--epochs", "2", "--sampler", "random"),
                     cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stdout.splitlines() if "  epoch " in line and "val acc" in line]
    assert [line.split()[:4] for line in epoch_lines] == [["trial", "0", "epoch", "1/2"], ["trial", "0", "epoch", "2/2"],
                                                          ["trial", "1", "epoch", "1/2"], ["trial", "1", "epoch", "2/2"]]
    assert "━" not in result.stdout.split("Top trials")[0]  # no progress bar drawn into a log
    out = tmp_path / "out dir"
    study = optuna.load_study(study_name="tiny space-300KMACs-digits", storage=f"sqlite:///{out / 'study.db'}")
    metas = optuna.artifacts.get_all_artifact_meta(study)
    assert sorted(m.filename for m in metas) == ["best.yaml", "history.png", "pareto.png"]
    store = optuna.artifacts.FileSystemArtifactStore(out / ARTIFACT_DIR)
    for meta in metas:  # what optuna-dashboard --artifact-dir serves is the file as written
        with store.open_reader(meta.artifact_id) as f:
            assert f.read() == (out / meta.filename).read_bytes()


def test_artifacts_are_uploaded_once_per_content_and_a_failure_never_raises(tmp_path):
    study = optuna.create_study()
    best = tmp_path / "best.yaml"
    best.write_text("name: a\n")
    assert attach_artifacts(study, [best, tmp_path / "missing.png"], tmp_path).uploaded == ("best.yaml",)
    again = attach_artifacts(study, [best], tmp_path)
    assert again.uploaded == () and again.unchanged == ("best.yaml",)
    best.write_text("name: b\n")
    assert attach_artifacts(study, [best], tmp_path).uploaded == ("best.yaml",)
    assert len(optuna.artifacts.get_all_artifact_meta(study)) == 2  # one per content, not one per call
    record = json.loads(study.user_attrs[STUDY_ARTIFACTS])
    assert (tmp_path / ARTIFACT_DIR / record["best.yaml"]["artifact_id"]).read_text() == "name: b\n"

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / ARTIFACT_DIR).write_text("a file where the store's folder goes")
    notes: list[str] = []
    failed = attach_artifacts(optuna.create_study(), [best], blocked, note=notes.append)
    assert failed.uploaded == () and failed.error is not None and failed.error.startswith("FileExistsError")
    assert len(notes) == 1 and "could not attach the files to the study as Optuna artifacts" in notes[0]
