"""The trial record: every attribute nascomp writes on an Optuna trial, by name, with typed helpers.

An Optuna trial holds the point (``params``), the value and the per-epoch accuracies; nascomp adds user attributes,
each named here once. Writers are the functions below (:func:`record_cost`, :func:`record_failure`, ...), readers
go through :class:`TrialRecord`, a typed view of a :class:`~optuna.trial.FrozenTrial`.

Attribute names are part of the stored study (other workers and ``nascomp report`` read them), so they never
change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nascomp._stats import accuracy_se  # re-exported: the one standard error (search and train)

__all__ = [
    "MACS", "PARAMS", "VAL_LOSS", "VAL_IMAGES", "REASON", "INTERRUPTED", "DUPLICATE_OF", "DRAWS", "SCREENED_OUT",
    "REPAIRED", "WITHDRAWN", "WORKER", "HEARTBEAT", "TRAINING", "POINT", "POINT_CONFIRMED", "RETRY_HISTORY",
    "PAUSED_AT", "STATE_ARTIFACT", "RESUMES", "LINEAGE", "RESTARTED", "STUDY_STOPPED_PREFIX", "lineage",
    "MAX_REASON_CHARS", "PREDICTED_LATENCY_MS", "MEASURED_LATENCY_MS", "LATENCY_SETTINGS", "PREDICTED_MEMORY_BYTES",
    "STUDY_RECIPE", "STUDY_SPACE_FILE", "STUDY_VAL_IMAGES", "record_val_images", "val_images",
    "trial_val_images", "accuracy_se",
    "TrialRecord", "record_cost", "record_draws", "record_failure_reason", "record_interrupted", "record_duplicate",
    "retry_history",
]

#: Analytic MACs of the point at the recipe's input shape (int).
MACS = "macs"
#: Parameter count of the point (int).
PARAMS = "params"
#: Validation cross-entropy of a complete trial after its last epoch (float; the objective stays the accuracy).
VAL_LOSS = "val_loss"
#: Validation images behind the trial's latest accuracy (int): fewer than the split's where the schedule validates
#: its early epochs on a share of it (``train.val_fractions``); the ``n`` of that accuracy's standard error.
VAL_IMAGES = "val_images"
#: Forward latency predicted from the spec at the recipe's input shape and latency settings (float, ms).
PREDICTED_LATENCY_MS = "predicted_latency_ms"
#: Forward latency measured on the built net before training (float, ms; the median of the repetitions).
MEASURED_LATENCY_MS = "measured_latency_ms"
#: The settings the latency was predicted and measured under (``cpu, batch 1, 1 thread, float32, channels-last``).
LATENCY_SETTINGS = "latency_settings"
#: Peak memory of one training step predicted from the spec at the input shape and train batch size (int, bytes).
PREDICTED_MEMORY_BYTES = "predicted_memory_bytes"
#: Why a trial failed or was pruned (one line, at most :data:`MAX_REASON_CHARS`).
REASON = "reason"
#: The trial was stopped by a signal (Ctrl-C, SIGTERM, the time limit); it does not count and is run again.
INTERRUPTED = "interrupted"
#: The point was evaluated before by this trial number; its result is reused, nothing is trained.
DUPLICATE_OF = "duplicate_of"
#: Points the budget sampler costed to find this trial's point (int).
DRAWS = "draws"
#: Draws thrown away for this trial: ``{"over_budget": n, "duplicates": n, "invalid": n}``.
SCREENED_OUT = "screened_out"
#: The point came from repairing an over-budget draw (bool).
REPAIRED = "repaired"
#: The point came from the walk over the feasible set, because every draw missed (bool).
WALKED = "walked"
#: A surplus trial closed unused by the worker coordinator: never counted.
WITHDRAWN = "withdrawn"
#: ``host:pid`` of the worker that ran the trial.
WORKER = "worker"
#: Wall-clock time of the worker's last heartbeat (float seconds).
HEARTBEAT = "nascomp_heartbeat"
#: The trial is training its point (twins wait for it).
TRAINING = "nascomp_training"
#: The point, published before any parameter is stored (list, in the space's dimension order).
POINT = "nascomp_point"
#: The published point is confirmed: no earlier trial holds it.
POINT_CONFIRMED = "nascomp_point_confirmed"
#: Optuna's system attribute: numbers of the trials a retry replaces (written by
#: :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`).
RETRY_HISTORY = "retry_history"

#: Successive halving paused the trial after this rung (0-based epoch; -1: during rung 0, by a signal): its
#: training state is saved (:data:`STATE_ARTIFACT`) and a later promotion resumes it. Set on a ``PRUNED`` trial.
PAUSED_AT = "paused_at_rung"
#: Optuna artifact id of the paused trial's saved training state (:mod:`nascomp.search.trials.saved_states`).
STATE_ARTIFACT = "state_artifact"
#: A promotion: this trial resumes the saved state of the paused trial with this number (same point).
RESUMES = "resumes"
#: The number of the trial that started this trial's architecture (set on promotions; a first trial is its own).
LINEAGE = "lineage"
#: The saved state could not be used (missing or corrupt): the trial trained its point from scratch; why.
RESTARTED = "restarted"

MAX_REASON_CHARS = 1000

# Study-level attributes (on the study, not on a trial).
#: The recipe identity a study was created with (JSON); a resume must match it.
STUDY_RECIPE = "nascomp_recipe"
#: The space file (or built-in space name) the study searches.
STUDY_SPACE_FILE = "space_file"
#: Images in the study's validation split (int): the ``n`` of every accuracy's standard error.
STUDY_VAL_IMAGES = "val_images"
#: ``nascomp_stopped_<lineage>``: the paused architecture was finally pruned (its state removed); the value says why.
#: On the study because a finished trial's attributes cannot change.
STUDY_STOPPED_PREFIX = "nascomp_stopped_"


def record_val_images(study: optuna.Study, n: int) -> None:
    """Store the validation split's size on the study (fixed with the split when the study is created)."""
    if study.user_attrs.get(STUDY_VAL_IMAGES) != int(n):
        study.set_user_attr(STUDY_VAL_IMAGES, int(n))


def val_images(study: optuna.Study) -> int | None:
    """The validation split's size, or ``None`` for a study made before it was recorded."""
    return _int_or_none(study.user_attrs.get(STUDY_VAL_IMAGES))


def trial_val_images(trial: FrozenTrial, study_val_images: int | None) -> int | None:
    """The ``n`` of a trial's accuracy: the images its latest validation used, else the study's split size."""
    return _int_or_none(trial.user_attrs.get(VAL_IMAGES)) or study_val_images


def retry_history(trial: FrozenTrial) -> tuple[int, ...]:
    """Numbers of the trials ``trial`` retries (oldest first); empty for a first attempt."""
    return tuple(trial.system_attrs.get(RETRY_HISTORY, ()))


def lineage(trial: FrozenTrial) -> int:
    """The number of the trial that started ``trial``'s architecture: its :data:`LINEAGE` (promotions and their
    retries), else the trial a retry replaces, else its own number."""
    if trial.user_attrs.get(LINEAGE) is not None:
        return int(trial.user_attrs[LINEAGE])
    history = retry_history(trial)
    return history[0] if history else trial.number


@dataclass(frozen=True)
class TrialRecord:
    """A typed view of one trial's nascomp attributes.

    Attributes:
        number: The trial number.
        state: Optuna's state.
        macs: Analytic MACs, or ``None`` before the point was costed.
        params: Parameter count, or ``None``.
        reason: Why it failed or was pruned (``""`` when none was recorded).
        interrupted: Stopped by a signal or the time limit.
        duplicate_of: The trial whose result it reuses, or ``None``.
        withdrawn: Closed unused as surplus.
        retry_of: The trials it retries (:func:`retry_history`).
        draws: Points costed to find it (``None`` for retries and older studies).
    """

    number: int
    state: TrialState
    macs: int | None
    params: int | None
    reason: str
    interrupted: bool
    duplicate_of: int | None
    withdrawn: bool
    retry_of: tuple[int, ...]
    draws: int | None

    @classmethod
    def of(cls, trial: FrozenTrial) -> "TrialRecord":
        """Read ``trial``'s attributes (missing ones take their empty value)."""
        attrs: Mapping[str, Any] = trial.user_attrs
        return cls(
            number=trial.number,
            state=trial.state,
            macs=_int_or_none(attrs.get(MACS)),
            params=_int_or_none(attrs.get(PARAMS)),
            reason=str(attrs.get(REASON, "") or ""),
            interrupted=bool(attrs.get(INTERRUPTED, False)),
            duplicate_of=_int_or_none(attrs.get(DUPLICATE_OF)),
            withdrawn=bool(attrs.get(WITHDRAWN, False)),
            retry_of=retry_history(trial),
            draws=_int_or_none(attrs.get(DRAWS)),
        )

    @property
    def has_reason(self) -> bool:
        """A nascomp trial that fails for a reason of its own records it before it is told ``FAIL``; a trial
        failed by a heartbeat watcher (its worker died) has none."""
        return bool(self.reason)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def record_cost(trial: optuna.Trial, *, macs: int, params: int) -> None:
    """Store the point's analytic cost (before it trains, so a failure still shows what it would have cost)."""
    trial.set_user_attr(MACS, int(macs))
    trial.set_user_attr(PARAMS, int(params))


def record_draws(trial: optuna.Trial, *, draws: int, over_budget: int = 0, duplicates: int = 0, invalid: int = 0,
                 repaired: bool = False, walked: bool = False) -> None:
    """Store what screening cost this trial's point (see :class:`nascomp.search.space.sampler.DrawStats`)."""
    trial.set_user_attr(DRAWS, int(draws))
    if over_budget or duplicates or invalid:
        trial.set_user_attr(SCREENED_OUT, {"over_budget": over_budget, "duplicates": duplicates, "invalid": invalid})
    if repaired:
        trial.set_user_attr(REPAIRED, True)
    if walked:
        trial.set_user_attr(WALKED, True)


def record_failure_reason(trial: optuna.Trial, reason: str) -> None:
    """Store why the trial fails or is pruned: one line, cut at :data:`MAX_REASON_CHARS` characters."""
    line = " ".join(str(reason).split())
    trial.set_user_attr(REASON, line[:MAX_REASON_CHARS])


def record_interrupted(trial: optuna.Trial, reason: str) -> None:
    """Mark the trial as stopped from outside (it will not count, and a resume runs its point again)."""
    trial.set_user_attr(INTERRUPTED, True)
    record_failure_reason(trial, reason)


def record_duplicate(trial: optuna.Trial, of: int) -> None:
    """Mark the trial as reusing trial ``of``'s result."""
    trial.set_user_attr(DUPLICATE_OF, int(of))
