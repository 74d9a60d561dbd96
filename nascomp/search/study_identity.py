"""A study's identity: its name, and the recipe fields a resumed study must match, in today's form.

:meth:`nascomp.search.recipe.Recipe.identity` gives a recipe's identity; it is stored with the study (user
attribute ``nascomp_recipe``). Studies written by older versions stored fewer fields or a different seed layout;
:func:`upgrade_identity` reads them in today's form, so that a resume compares like with like.
"""

from __future__ import annotations

from typing import Any

from nascomp.errors import SearchError

__all__ = ["check_study_name", "legacy_seed", "upgrade_identity"]


def legacy_seed(stored: dict[str, Any]) -> int | None:
    """The one ``seed`` of a study created before ``data.split_seed`` existed, or ``None`` for a newer study.

    Such a study stored ``seed`` at the top level of its identity, and that seed fixed the data split as well as the
    sampler and the initialisations.
    """
    if "seed" in stored and "split_seed" not in (stored.get("data") or {}):
        return int(stored["seed"])
    return None


def upgrade_identity(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored recipe identity in today's form (see :meth:`~nascomp.search.recipe.Recipe.identity`), for comparison
    with a new one.

    Studies created before BN recalibration (``train.bn_recalibration_batches``) get 0, and those created before
    validation shares (``train.val_fractions``) ``None``: what they ran with.
    Compatibility rule for studies created before workers had their own seeds: their top-level ``seed`` seeded the
    validation split too, so it becomes ``data.split_seed``, and it stops being compared as a worker seed. A resume
    of such a study with its old ``--seed S`` therefore still matches (the run takes ``split_seed = S`` from the
    study, :meth:`~nascomp.search.recipe.Recipe.adopt_split_seed`), and sees exactly the split it saw before.

    Example:
        >>> upgrade_identity({"data": {"source": "digits"}, "seed": 3})
        {'data': {'source': 'digits', 'split_seed': 3}}
    """
    upgraded = dict(stored)
    if isinstance(upgraded.get("train"), dict) and "bn_recalibration_batches" not in upgraded["train"]:
        # studies made before BN recalibration validated with the running statistics as trained
        upgraded["train"] = {**upgraded["train"], "bn_recalibration_batches": 0}
    if isinstance(upgraded.get("train"), dict) and "val_fractions" not in upgraded["train"]:
        # studies made before validation shares validated on the whole split every epoch
        upgraded["train"] = {**upgraded["train"], "val_fractions": None}
    seed = legacy_seed(stored)
    if seed is None:
        return upgraded
    upgraded.pop("seed")
    upgraded["data"] = {**(stored.get("data") or {}), "split_seed": seed}
    return upgraded


def check_study_name(name: str) -> str:
    """Return ``name`` if it can name a study: one path component (it names the output folder ``runs/<name>``).

    Raises:
        SearchError: empty, ``.`` or ``..``, or containing ``/``, ``\\`` or a NUL or other control character.
    """
    bad = ("/" in name or "\\" in name or name.strip() in ("", ".", "..")
           or any(ord(c) < 32 or ord(c) == 127 for c in name))
    if bad:
        raise SearchError(
            f"study name {name!r} is not allowed: a study name is one folder name (it names runs/<study-name>): "
            f"not empty, not '.' or '..', no '/', '\\' or control characters; e.g. --study-name my-study"
        )
    return name
