"""Can the proxy be trusted? Retrain the top K and K random finished trials and rank-correlate.

``nascomp search --check-fidelity K`` retrains, with :func:`nascomp.train.train_spec` and one fixed short schedule
(:data:`FIDELITY_SCHEDULE`), the K best complete trials and K others drawn at random (seeded) from the remaining
complete ones, measures each on the held-out test split, and reports Spearman's rank correlation between the proxy
score (validation accuracy) and the retrained test accuracy, with the number of pairs and its p-value
(``scipy.stats.spearmanr``). Reduced training typically reaches rho ~ 0.6 (NAS-Bench-201, arXiv:2001.00326;
arXiv:2101.08134). Writes ``fidelity.csv`` in the study's output folder.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from nascomp._atomic import write_atomic
from nascomp.errors import SearchError
from nascomp.search.trials import record as attrs
from nascomp.search.outputs.study_files import write_best_yaml
from nascomp.search.recipe import Recipe
from nascomp.search.space.search_space import SearchSpace

__all__ = ["FIDELITY_SCHEDULE", "FidelityRow", "FidelityResult", "pick_trials", "check_fidelity",
           "FIDELITY_COLUMNS"]

#: The retraining schedule (``nascomp train`` settings besides the study's data): 5 epochs, AdamW at 3e-3, batch 64,
#: one epoch of warm-up, the source's standard augmentation, evaluated once on the test split.
FIDELITY_SCHEDULE = {"epochs": 5, "optimizer": "adamw", "lr": 3e-3, "batch_size": 64, "warmup_epochs": 1.0}

FIDELITY_COLUMNS = ("trial", "picked", "proxy_accuracy", "macs", "params", "test_accuracy", "test_se")


@dataclass(frozen=True)
class FidelityRow:
    """One retrained trial: ``picked`` is ``top`` or ``random``; accuracies are 0-1."""

    trial: int
    picked: str
    proxy_accuracy: float
    macs: int
    params: int
    test_accuracy: float
    test_se: float


@dataclass
class FidelityResult:
    """Spearman's ``rho`` (``nan`` when undefined: fewer than 3 pairs or a constant column), its ``p_value``,
    the ``pairs`` it is computed over, the rows and the CSV written."""

    rho: float
    p_value: float
    pairs: int
    rows: list[FidelityRow] = field(default_factory=list)
    path: Path | None = None


def pick_trials(study: optuna.Study, k: int, *, seed: int = 0) -> list[tuple[FrozenTrial, str]]:
    """The K best complete trials (by proxy accuracy; reused duplicates left out) and K random other complete ones.

    Raises:
        SearchError: ``k`` < 1, or no complete trial.
    """
    if k < 1:
        raise SearchError(f"--check-fidelity needs K >= 1 trials, got {k}")
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values and attrs.DUPLICATE_OF not in t.user_attrs]
    if not done:
        raise SearchError(f"study '{study.study_name}' has no complete trial to retrain; run the search first")
    ranked = sorted(done, key=lambda t: (-t.values[0], t.number))
    rest = ranked[k:]
    others = random.Random(seed).sample(rest, min(k, len(rest)))
    return [(t, "top") for t in ranked[:k]] + [(t, "random") for t in sorted(others, key=lambda t: t.number)]


def check_fidelity(study: optuna.Study, space: SearchSpace, recipe: Recipe, out: Path, k: int, *,
                   schedule: dict | None = None, console=None) -> FidelityResult:
    """Retrain :func:`pick_trials` with ``schedule`` (default :data:`FIDELITY_SCHEDULE`) on the study's data,
    write ``out/fidelity.csv`` and return Spearman's rho between proxy and test accuracy.

    Raises:
        SearchError: see :func:`pick_trials`; DataError, SpecError: from training.
    """
    from scipy.stats import spearmanr

    from nascomp.train import train_spec
    from nascomp.train.config import RunConfig

    settings = {**FIDELITY_SCHEDULE, **(schedule or {})}
    identity = json.loads(study.user_attrs.get(attrs.STUDY_RECIPE, "{}"))
    num_classes = int(identity.get("num_classes", 10))
    config = RunConfig(data=recipe.data.source, image_size=recipe.data.image_size, val_fraction=recipe.data.val_fraction,
                       max_images=recipe.data.max_images, seed=recipe.search.seed, device=recipe.device, workers=0,
                       **settings)
    rows: list[FidelityRow] = []
    (out / "fidelity").mkdir(parents=True, exist_ok=True)
    for trial, picked in pick_trials(study, k, seed=recipe.search.seed):
        point = {name: trial.params[name] for name in space.dimensions}
        spec = space.export(point, name=f"{space.name}_trial{trial.number}", input_shape=recipe.input_shape,
                            num_classes=num_classes, doc=f"Trial {trial.number} of study '{study.study_name}', "
                            f"retrained by --check-fidelity.")
        path = write_best_yaml(spec, out / "fidelity" / f"trial{trial.number}.yaml")  # the trial's exported spec
        summary = train_spec(str(path), config, out=out / "fidelity" / f"trial{trial.number}", progress=False,
                             console=console)
        if summary.test_accuracy is None:
            raise SearchError(f"retraining trial {trial.number} was interrupted; rerun to finish --check-fidelity")
        rows.append(FidelityRow(trial=trial.number, picked=picked, proxy_accuracy=float(trial.values[0]),
                                macs=int(trial.user_attrs.get(attrs.MACS, 0)),
                                params=int(trial.user_attrs.get(attrs.PARAMS, 0)),
                                test_accuracy=float(summary.test_accuracy), test_se=float(summary.test_stderr)))
    proxy = [r.proxy_accuracy for r in rows]
    test = [r.test_accuracy for r in rows]
    if len(rows) >= 3 and len(set(proxy)) > 1 and len(set(test)) > 1:
        stat = spearmanr(proxy, test)
        rho, p_value = float(stat.statistic), float(stat.pvalue)
    else:
        rho, p_value = math.nan, math.nan
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIDELITY_COLUMNS)
    for r in rows:
        writer.writerow([r.trial, r.picked, f"{r.proxy_accuracy:.6f}", r.macs, r.params, f"{r.test_accuracy:.6f}",
                         f"{r.test_se:.6f}"])
    path = write_atomic(out / "fidelity.csv", buf.getvalue())
    return FidelityResult(rho=rho, p_value=p_value, pairs=len(rows), rows=rows, path=path)


def describe(result: FidelityResult, schedule: dict | None = None) -> str:
    """One line for the console."""
    settings = {**FIDELITY_SCHEDULE, **(schedule or {})}
    if math.isnan(result.rho):
        return (f"proxy fidelity: Spearman rho undefined over {result.pairs} pair(s) (needs >= 3 distinct values); "
                f"see {result.path}")
    return (f"proxy fidelity: Spearman rho = {result.rho:.3f} (p = {result.p_value:.3g}, {result.pairs} pairs: proxy "
            f"validation accuracy vs test accuracy after {settings['epochs']} epochs of nascomp train); {result.path}")
