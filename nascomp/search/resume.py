"""Create or resume a study: a resumed study must be the same study, the recipe identity it was made with.

A study stores the identity of the recipe that made it (:meth:`~nascomp.search.recipe.Recipe.identity`, the class
count and the space's domains) as its user attribute ``nascomp_recipe``. A run that finds the study in its storage
resumes it only when its own identity matches, compared in today's form
(:func:`~nascomp.search.study_identity.upgrade_identity`); otherwise it stops with one line naming the first field
that differs. Used by :func:`nascomp.search.study.run_search`, before the census (:func:`check_resume`) and when the
study is opened (:func:`open_study`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import optuna

from nascomp.errors import SearchError
from nascomp.search.recipe import Recipe
from nascomp.search.space.search_space import SearchSpace
from nascomp.search.study_identity import upgrade_identity
from nascomp.search.trials import record as attrs
from nascomp.search.workers.artifact_store import ArtifactLocation, check_study_store
from nascomp.search.workers.storage import default_storage_url, describe_storage, open_storage

__all__ = ["study_identity", "stored_identity", "check_identity", "existing_study", "resume_recipe", "check_resume",
           "open_study", "pauses_trials"]


def pauses_trials(recipe: Recipe) -> bool:
    """Whether the study pauses trials at rung boundaries (successive halving with saved states: the ``sha``
    pruner, one objective, more than one epoch), and so keeps training states in its artifact store."""
    return recipe.search.pruner == "sha" and not recipe.search.multi_objective and recipe.train.epochs > 1


def study_identity(recipe: Recipe, space: SearchSpace, num_classes: int) -> dict[str, Any]:
    domains = {name: dim.describe() for name, dim in space.dimensions.items()}  # fixed per name in a study
    # through JSON, as stored: tuples (train.data_fractions) compare equal to the lists read back on a resume
    return json.loads(json.dumps({**recipe.identity(), "num_classes": num_classes, "dimensions": domains}))


def stored_identity(existing: optuna.Study, url: str) -> dict[str, Any]:
    """The recipe identity a study was created with (waiting briefly for a worker that created it a moment ago)."""
    stored = existing.user_attrs.get(attrs.STUDY_RECIPE)
    for _ in range(20):  # a worker that created the study a moment ago writes the recipe right after
        if stored is not None or existing.trials:
            break
        time.sleep(0.25)
        stored = existing.user_attrs.get(attrs.STUDY_RECIPE)
    if stored is None:
        raise SearchError(f"study '{existing.study_name}' in {describe_storage(url)} was not created by nascomp "
                          f"search; pick another --study-name")
    return json.loads(stored)


def check_identity(existing: optuna.Study, identity: dict[str, Any], url: str) -> None:
    """A resumed study must have been made by the same recipe identity.

    The stored identity is compared in today's form (:func:`~nascomp.search.study_identity.upgrade_identity`): a study
    created before workers had their own seeds stored one top-level ``seed``; it is compared as the study's
    ``data.split_seed`` (the one thing it fixed for the whole study), and a worker's ``search.seed`` is never
    compared.
    """
    name = existing.study_name
    stored = upgrade_identity(stored_identity(existing, url))
    diff = [k for k in identity if stored.get(k) != identity[k]]
    if diff:
        k = diff[0]
        hint = ""
        if k == "data" and (stored.get(k) or {}).get("split_seed") != identity[k].get("split_seed"):
            hint = (f" (its validation split was made with split_seed {stored[k].get('split_seed')}: all workers of a "
                    f"study use the study's split; set --split-seed to match)")
        raise SearchError(
            f"study '{name}' in {describe_storage(url)} was run with {k}={stored.get(k)!r}, this run asks "
            f"{k}={identity[k]!r}{hint}; resume with the same settings, or start a new study with --study-name or "
            f"--out"
        )


def existing_study(recipe: Recipe, out: Path) -> tuple[optuna.Study | None, str]:
    """The study a run would resume (or ``None``) and its storage URL. Creates nothing: the default SQLite file is
    only opened when it exists already."""
    url = recipe.storage or default_storage_url(out)
    if not recipe.storage and not (out / "study.db").is_file():
        return None, url
    try:
        return optuna.load_study(study_name=recipe.resolved_study_name(), storage=open_storage(url)), url
    except KeyError:
        return None, url


def resume_recipe(recipe: Recipe, out: Path) -> Recipe:
    """The recipe this run uses: a study created before ``data.split_seed`` existed keeps its split for a worker
    started with its old seed (:meth:`~nascomp.search.recipe.Recipe.adopt_split_seed`). Read before the data is
    split."""
    existing, url = existing_study(recipe, out)
    if existing is None:
        return recipe
    return recipe.adopt_split_seed(stored_identity(existing, url))


def check_resume(recipe: Recipe, space: SearchSpace, out: Path, num_classes: int,
                 artifacts: ArtifactLocation) -> None:
    """Refuse a resume whose recipe (or artifact store, for a study that pauses trials) differs from the stored
    study's, before the census is taken and printed."""
    existing, url = existing_study(recipe, out)
    if existing is not None:
        check_identity(existing, study_identity(recipe, space, num_classes), url)
        if pauses_trials(recipe):
            check_study_store(existing, artifacts, describe_storage(url), record=False)


def open_study(recipe: Recipe, space: SearchSpace, sampler, pruner, out: Path, num_classes: int,
               artifacts: ArtifactLocation):
    """Create or resume the study; a resumed study must have been made by the same recipe identity, and a study
    that pauses trials records its artifact store (every worker must use that one)."""
    url = recipe.storage or default_storage_url(out)
    storage = open_storage(url)
    name = recipe.resolved_study_name()
    directions = ["maximize", "minimize"] if recipe.search.multi_objective else ["maximize"]
    identity = study_identity(recipe, space, num_classes)
    try:
        existing = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        existing = None
    if existing is None:
        try:
            study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                        directions=directions)
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it a moment ago
            existing = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        else:
            study.set_user_attr(attrs.STUDY_RECIPE, json.dumps(identity))
            study.set_user_attr(attrs.STUDY_SPACE_FILE, str(space.source) if space.source else space.name)
            if pauses_trials(recipe):
                check_study_store(study, artifacts, describe_storage(url))
            return study, url
    check_identity(existing, identity, url)
    if pauses_trials(recipe):
        check_study_store(existing, artifacts, describe_storage(url))
    return existing, url
