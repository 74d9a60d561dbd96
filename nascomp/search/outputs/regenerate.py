"""Rebuild a study's output folder from its Optuna storage alone (``nascomp report``).

A worker pool writes its files from every worker (atomically, so never half-written, but each worker into its own
``--out``, possibly on another machine). The storage is the one source of truth: the study keeps the recipe fields
that define it (user attribute ``nascomp_recipe``: space, budget, input shape, data, schedule, objectives, class
count), which is all :func:`regenerate_outputs` needs to write ``best.yaml``, ``trials.csv``, ``history.png`` and
``pareto.png`` again, anywhere, at any time, while workers still run or after they have all stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from nascomp._atomic import missing_root, prepare_out_dir, remove_empty_dirs
from nascomp.errors import SearchError
from nascomp.search.trials import record as attrs
from nascomp.search.outputs.study_files import write_plots, write_trials_csv
from nascomp.search.recipe import DataConfig, LatencyConfig, Recipe, SearchConfig
from nascomp.search.study_identity import check_study_name, upgrade_identity
from nascomp.search.space.search_space import SearchSpace, load_space
from nascomp.search.workers.storage import describe_storage, open_storage
from nascomp.train import TrainConfig

__all__ = ["regenerate_outputs", "load_search_study"]


def load_search_study(storage_url: str, study_name: str) -> tuple[optuna.Study, Recipe, SearchSpace, int]:
    """Open a study made by ``nascomp search`` and rebuild its recipe, space and class count.

    Raises:
        SearchError: the storage cannot be opened, holds no such study (the message lists the ones it holds), the
            study was not made by ``nascomp search``, or its space file cannot be found any more.
    """
    check_study_name(study_name)
    where = describe_storage(storage_url)
    if storage_url.startswith("sqlite:///") and not Path(storage_url[len("sqlite:///"):]).is_file():
        raise SearchError(f"no study storage at {where} (the file does not exist); nothing to report")
    if storage_url.startswith("journal:") and not Path(storage_url[len("journal:"):]).expanduser().is_file():
        raise SearchError(f"no study storage at {where} (the file does not exist); nothing to report")
    storage = open_storage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = sorted(optuna.get_all_study_names(storage))
        listed = ", ".join(repr(n) for n in names) if names else "none"
        raise SearchError(f"no study '{study_name}' in {where} (studies there: {listed})") from None
    raw = study.user_attrs.get(attrs.STUDY_RECIPE)
    if raw is None:
        raise SearchError(f"study '{study_name}' in {where} was not made by nascomp search (no recipe recorded)")
    identity = upgrade_identity(json.loads(raw))  # older studies: their one seed is the split seed
    recipe = Recipe(
        space=identity["space"],
        budget=int(identity["budget"]),
        input_shape=tuple(identity["input_shape"]),
        data=DataConfig(**identity["data"]),
        train=TrainConfig(**identity["train"]),
        search=SearchConfig(objectives=tuple(identity["objectives"]), sampler=identity["sampler"]),
        study_name=study_name,
        storage=storage_url,
        **_hardware(identity.get("hardware")),
    )
    space = _space(identity, study.user_attrs.get(attrs.STUDY_SPACE_FILE), study_name)
    return study, recipe, space, int(identity["num_classes"])


def _hardware(stored: dict | None) -> dict:
    """The latency and memory budgets of a study that had them (``best.yaml`` states them)."""
    if not stored:
        return {}
    return {"latency_budget": stored.get("latency_budget_ms"), "memory_budget": stored.get("memory_budget_bytes"),
            "latency": LatencyConfig(**stored.get("latency", {}))}


def _space(identity: dict, space_file: str | None, study_name: str) -> SearchSpace:
    tried = []
    for name in dict.fromkeys(filter(None, (space_file, identity["space"]))):
        try:
            space = load_space(name)
        except SearchError as exc:
            tried.append(f"{name} ({exc})")
            continue
        stored = identity["dimensions"]  # names (older studies) or each dimension's domain
        current = ({n: d.describe() for n, d in space.dimensions.items()} if isinstance(stored, dict)
                   else list(space.dimensions))
        if current != stored:
            tried.append(f"{name} (its dimensions changed since the study ran)")
            continue
        return space
    raise SearchError(f"study '{study_name}': cannot load its search space: {'; '.join(tried)}")


def regenerate_outputs(storage_url: str, study_name: str, out: str | Path | None = None) -> list[Path]:
    """Write ``best.yaml`` (when a trial completed), ``trials.csv`` and the two plots for a study, from its storage.

    Args:
        storage_url: Where the study lives (``postgresql+psycopg://...``, ``journal:FILE``, ``sqlite:///FILE``).
        study_name: The study's name.
        out: Output folder (created if missing); default ``runs/<study_name>``.

    Returns:
        The files written.

    Example:
        For a study that ``nascomp search`` wrote to ``runs/pool.log``,
        ``regenerate_outputs("journal:runs/pool.log", "se_resnext-4GMACs-digits", "report")`` returns
        ``[PosixPath('report/trials.csv'), PosixPath('report/best.yaml'), ...]``.
    """
    from nascomp.search.study import export_best

    check_study_name(study_name)
    folder = Path(out).expanduser() if out is not None else Path("runs") / study_name
    created = missing_root(folder)
    prepare_out_dir(folder)  # checked before the storage is read
    try:
        study, recipe, space, num_classes = load_search_study(storage_url, study_name)
    except BaseException:
        remove_empty_dirs(folder, created)
        raise
    files = [write_trials_csv(study, list(space.dimensions), folder / "trials.csv")]
    best = export_best(study, space, recipe, num_classes, folder)
    if best is not None:
        files.append(best)
    files.extend(write_plots(study, folder, **recipe.plot_costs()))
    return files
