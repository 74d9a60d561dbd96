"""The report shows architectures, not Optuna trials: under successive halving with pauses one architecture is
trained by several trials in turn (a paused trial, then the promotion that resumes it)."""

from __future__ import annotations

import io

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from nascomp.search.trials import record as attrs
from nascomp.search.outputs.report import summary_table, trials_table


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    dist = {"width": IntDistribution(1, 64)}

    def add(state, width, values, **user_attrs):
        value = values[max(values)] if state == TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, value=value, params={"width": width}, distributions=dist,
                                     intermediate_values=values, user_attrs={attrs.MACS: 1000, attrs.PARAMS: 10,
                                                                             **user_attrs}))

    add(TrialState.PRUNED, 8, {1: 0.60}, **{attrs.PAUSED_AT: 0})                            # 0: paused, then promoted
    add(TrialState.PRUNED, 16, {1: 0.50}, **{attrs.PAUSED_AT: 0})                           # 1: still paused
    add(TrialState.COMPLETE, 8, {1: 0.60, 3: 0.80}, **{attrs.RESUMES: 0, attrs.LINEAGE: 0})  # 2: architecture 0 done
    add(TrialState.PRUNED, 32, {1: 0.40}, **{attrs.PAUSED_AT: 0})                           # 3: finally pruned
    study.set_user_attr(f"{attrs.STUDY_STOPPED_PREFIX}3", "the search ended")
    return study


def _text(table) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(table)
    return out.getvalue()


def test_top_trials_show_each_architecture_once_with_paused_ones_named_so():
    rows = [line for line in _text(trials_table(_study())).splitlines() if line.startswith("│")]
    numbers = [row.split("│")[1].strip() for row in rows]
    assert numbers == ["2", "1", "3"]  # architecture 0 once (its complete trial), then by accuracy
    states = [row.split("│")[2].strip() for row in rows]
    assert states == ["complete", "paused", "pruned"]  # trial 1 may still be promoted; trial 3 was stopped


def test_the_summary_counts_architectures_beside_trials():
    class Result:
        screened = trained = 0
        storage, files, interrupted, stopped_by_timeout = "sqlite:///x.db", [], False, False

    text = " ".join(_text(summary_table(_study(), 10**9, Result())).split())
    assert "3 architectures in 4 trials (1 complete, 3 pruned or paused, 0 failed" in text, text
