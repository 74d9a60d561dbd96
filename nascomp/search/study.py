"""Run a search: :func:`run_search`, the entry point, wires a recipe's parts together and runs the trial loop.

Order of work, so that a bad input fails before anything is written: recipe -> output folder (created and checked
writable) -> space -> data -> a resume with other settings refused (:mod:`nascomp.search.resume`) -> census (a
budget no point meets is a :class:`~nascomp.errors.BudgetError` here) -> storage -> trials
(:class:`~nascomp.search.trials.trial_loop.SearchLoop`: screen by analytic cost, train the survivors on the proxy
schedule, record everything in Optuna) -> outputs (:mod:`nascomp.search.outputs`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial

from nascomp._atomic import missing_root, prepare_out_dir, remove_empty_dirs
from nascomp._device import resolve_device
from nascomp._progress import WorkProgress
from nascomp._stop import StopFlag
from nascomp.cost.budget import format_macs
from nascomp.data import ImageData, load_data
from nascomp.errors import SearchError
from nascomp.graph.build import build
from nascomp.search.workers.artifact_store import (ArtifactLocation, check_library, open_artifact_store,
                                                   parse_artifact_store)
from nascomp.search.outputs.artifacts import attach_artifacts
from nascomp.search.space.census import Census, take_census
from nascomp.search.outputs.handover import Handover, write_handover
from nascomp.search.space.hardware_gate import check_feasible, describe_best, describe_budgets, make_hardware_gate
from nascomp.search.outputs.study_files import best_trial, write_best_yaml, write_plots, write_trials_csv
from nascomp.search.recipe import Recipe
from nascomp.search.resume import check_resume, open_study, pauses_trials, resume_recipe
from nascomp.search.outputs.report import Reporter
from nascomp.search.trials.loop_inputs import Deadline, Training
from nascomp.search.trials.trial_loop import SearchLoop
from nascomp.search.trials.outcome import EXIT_ALL_FAILED, all_failed
from nascomp.search.space.proxy_resolution import ProxyResolution
from nascomp.search.space.sampler import BudgetSampler
from nascomp.search.trials.schedule import Ladder
from nascomp.search.trials.saved_states import SavedStates, default_store
from nascomp.search.space.search_space import SearchSpace, load_space
from nascomp.search.workers.storage import open_storage
from nascomp.search.workers.coordinator import Coordinator, counted
from nascomp.train import FitResult, fit, steps_per_epoch
from nascomp.search.trials import record as attrs

__all__ = ["run_search", "SearchResult", "RECIPE_ATTR", "export_best", "fidelity_steps", "reduction_factor",
           "pauses_trials"]

RECIPE_ATTR = attrs.STUDY_RECIPE
#: Files attached to the study as Optuna artifacts at the end of a run (optuna-dashboard shows them).
_DASHBOARD_FILES = ("best.yaml", "history.png", "pareto.png")


@dataclass
class SearchResult:
    """What :func:`run_search` did.

    Attributes:
        study_name, storage, out: Where the study and its files are.
        best: The best complete trial, or ``None``.
        trials: Trials counted in the study (finished, not interrupted).
        trained: Trials this run trained.
        screened: Points this run costed analytically for its trials (draws), and how many of them fit.
        census: The pre-training census.
        interrupted: Ctrl-C or SIGTERM stopped the run (``stop_reason`` says which).
        exit_code: What the command should exit with: 0, 3 when every counted trial of the study failed
            (:data:`~nascomp.search.trials.outcome.EXIT_ALL_FAILED`), or 128 + the signal number after a stop (130, 143).
        failure: Why the study has no result when every counted trial failed
            (:func:`~nascomp.search.trials.outcome.all_failed`), else ``None``.
        files: Files written in ``out``.
        handover: ``baseline.yaml`` and the ``nascomp train`` commands for the winner and the baseline.
        retrained: With ``search.retrain_epochs``: the nets trained to the end after the search
            (:class:`~nascomp.search.outputs.retrain.Retrained`, winner first; ``retrain.csv`` is in ``files``).
    """

    study_name: str
    storage: str
    out: Path
    best: FrozenTrial | None
    trials: int
    trained: int = 0
    screened: int = 0
    screened_fit: int = 0
    census: Census | None = None
    interrupted: bool = False
    stop_reason: str = ""
    exit_code: int = 0
    failure: str | None = None
    stopped_by_timeout: bool = False
    seconds: float = 0.0
    handover: Handover | None = None
    files: list[Path] = field(default_factory=list)
    retrained: list = field(default_factory=list)


def _make_sampler(recipe: Recipe, space: SearchSpace, cost, budget: int, screen=None) -> BudgetSampler:
    s = recipe.search
    if s.sampler == "random":
        base = optuna.samplers.RandomSampler(seed=s.seed)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            base = optuna.samplers.TPESampler(
                seed=s.seed, multivariate=True, n_startup_trials=max(3, min(10, s.trials // 3))
            )
    return BudgetSampler(base, space, cost, budget, seed=s.seed, screen=screen)


def fidelity_steps(fractions: tuple[float, ...] | None, epochs: int) -> list[int]:
    """The pruner step of each epoch: the epoch's training resource in units of the first epoch's share.

    Data shares ``(1/9, 1/3, 1)`` give steps ``[1, 3, 9]``: the rungs of successive halving with eta = 3
    (Jamieson & Talwalkar, arXiv:1502.07943; Li et al., "Hyperband", arXiv:1603.06560), the resource Optuna's
    ``HyperbandPruner`` is given (``max_resource=9``) and the keys the scheduler ranks each rung's results by. Steps strictly increase (equal shares take the next step). Without shares: ``0..epochs-1``.

    Example:
        >>> fidelity_steps((1 / 9, 1 / 3, 1.0), 3), fidelity_steps(None, 3)
        ([1, 3, 9], [0, 1, 2])
    """
    if not fractions:
        return list(range(epochs))
    steps: list[int] = []
    for f in fractions:
        steps.append(max(steps[-1] + 1 if steps else 1, round(f / fractions[0])))
    return steps


def reduction_factor(fractions: tuple[float, ...] | None) -> int:
    """Successive halving's eta: the growth of the data share from the first rung to the second (3 without
    shares or with a single epoch)."""
    if not fractions or len(fractions) < 2:
        return 3
    return max(2, round(fractions[1] / fractions[0]))


def _make_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    if recipe.search.pruner == "median" and not recipe.search.multi_objective:
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    # "sha": successive halving with pauses is the loop's scheduler (nascomp.search.trials.schedule), not a pruner
    if recipe.search.pruner == "hyperband" and not recipe.search.multi_objective:
        # as Optuna's docs set it up: the resource is what each report stands for (the rung's steps 1, 3, 9 with
        # data shares, else the epoch), its maximum the last one
        steps = fidelity_steps(recipe.train.data_fractions, recipe.train.epochs)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(steps[-1], 1),
                                              reduction_factor=reduction_factor(recipe.train.data_fractions))
    return optuna.pruners.NopPruner()


def export_best(study: optuna.Study, space: SearchSpace, recipe: Recipe, num_classes: int,
                out: Path) -> Path | None:
    """Write ``best.yaml`` for the study's best trial, then check that it profiles to the recorded MACs."""
    from nascomp.cost.profile import MACS_CONVENTION, profile

    best = best_trial(study)
    if best is None:
        return None
    point = {k: best.params[k] for k in space.dimensions}
    macs = best.user_attrs[attrs.MACS]
    shape = "x".join(map(str, recipe.input_shape))
    doc = (
        f"Found by `nascomp search` (study '{study.study_name}', trial {best.number}) in search space "
        f"'{space.name}' under a budget of {format_macs(recipe.budget)} at {shape}.\n"
        f"Proxy validation accuracy: {best.values[0]:.4f} on {recipe.data.source} at "
        f"{recipe.data.image_size}x{recipe.data.image_size} after {recipe.train.epochs} epoch(s) (not a final "
        f"accuracy: train it properly before use).\n"
        f"Point: {', '.join(f'{k}={v}' for k, v in point.items())}\n"
        f"Expected at input {shape}, batch 1 ({MACS_CONVENTION}):\n"
        f"  params: {best.user_attrs[attrs.PARAMS]:,}\n  MACs: {macs:,}\n"
        f"{describe_best(best.user_attrs, recipe)}"
    )
    spec = space.export(point, name=f"{space.name}_trial{best.number}", doc=doc,
                        input_shape=recipe.input_shape, num_classes=num_classes)
    path = write_best_yaml(spec, out / "best.yaml")
    check = profile(str(path))
    if (check.macs, check.params) != (macs, best.user_attrs[attrs.PARAMS]):  # pragma: no cover - internal invariant
        raise SearchError(f"best.yaml profiles to {check.macs:,} MACs, the study recorded {macs:,}: please report")
    return path


def run_search(recipe: Recipe, *, reporter: Reporter | None = None, fit: Callable[..., FitResult] | None = None,
               build: Callable[..., torch.nn.Module] | None = None) -> SearchResult:
    """Run (or resume) the study a recipe describes.

    Args:
        recipe: The study recipe (see :mod:`nascomp.search.recipe`).
        reporter: Where progress goes; default a rich console reporter on stdout.
        fit: Trains a point's model, with :func:`nascomp.train.fit`'s signature; default that function. Tests pass
            a stand-in (scripted accuracies, a slow or failing fit) here.
        build: Builds a point's spec into a model, with :func:`nascomp.build`'s signature; default that function.

    Returns:
        A :class:`SearchResult`; the study itself is in ``result.storage`` under ``result.study_name``.

    Raises:
        SearchError, BudgetError, DataError, SpecError: bad inputs, all before anything is written.

    Example:
        >>> from nascomp.search.recipe import load_recipe
        >>> recipe = load_recipe().with_overrides(budget="600MFLOPs", trials=1, epochs=1, image_size=8,
        ...                                       max_images=300, census=20, out="run")
        >>> import io, rich.console
        >>> quiet = Reporter(console=rich.console.Console(file=io.StringIO()), bars=False)
        >>> result = run_search(recipe, reporter=quiet)
        >>> result.trials, result.best.user_attrs["macs"] <= 600 * 10**6
        (1, True)
    """
    t0 = time.perf_counter()
    reporter = reporter or Reporter()
    recipe.validate()
    device = resolve_device(recipe.device, error=SearchError)
    if recipe.measures_latency:  # an absent latency device fails before anything is written
        from nascomp.hardware import LatencyError, LatencySettings

        lat = recipe.latency
        if lat.device.startswith("cuda") and not torch.cuda.is_available():
            raise SearchError(f"latency device '{lat.device}' requested but CUDA is not available here; use "
                              f"--latency-device cpu (the recipe's latency.device)")
        try:
            LatencySettings(device=lat.device, batch_size=lat.batch_size, threads=lat.threads)
        except LatencyError as exc:
            raise SearchError(f"latency settings: {exc}") from None
    out = recipe.resolved_out()
    created = missing_root(out)  # removed again (when empty) if the run fails before writing anything
    prepare_out_dir(out)  # a folder that cannot be written fails now, not after the census
    with StopFlag(on_first=reporter.note) as stop:  # SIGINT, SIGTERM: finish the step, record it, write outputs
        return _run(recipe, reporter, device, out, created, stop, t0, fit_with=fit, build_with=build)


def _work_progress(reporter: Reporter) -> WorkProgress:
    """How the latency table's measuring shows: a bar on stderr when it is a terminal and bars are on, otherwise a
    few plain lines where the search's lines go (a log shows the work; stderr keeps one line for an error)."""
    if reporter.bars and sys.stderr.isatty():
        return WorkProgress.for_streams()
    return WorkProgress(lines=reporter.console.file)


def _run(recipe: Recipe, reporter: Reporter, device: torch.device, out: Path, created: Path | None, stop: StopFlag,
         t0: float, *, fit_with: Callable[..., FitResult] | None = None,
         build_with: Callable[..., torch.nn.Module] | None = None) -> SearchResult:
    store_created: Path | None = None  # the store's folder as far as this run created it (removed on failure)
    store_folder: Path | None = None
    try:
        space = load_space(recipe.space)
        channels = recipe.input_shape[0]
        if recipe.storage:  # a bad --storage fails before the data is read and the census is taken
            open_storage(recipe.storage)
        artifacts = parse_artifact_store(recipe.artifact_store, out)  # so does a bad --artifact-store
        check_library(artifacts)
        recipe = resume_recipe(recipe, out)  # an older study keeps its split (see Recipe.adopt_split_seed)
        data = load_data(recipe.data.source, image_size=recipe.data.image_size, channels=channels,
                         val_fraction=recipe.data.val_fraction, seed=recipe.data.split_seed,
                         max_images=recipe.data.max_images)
        num_classes = data.num_classes
        budget = recipe.budget
        check_resume(recipe, space, out, num_classes, artifacts)  # other settings fail before the census

        proxy = ProxyResolution(space, channels, recipe.data.image_size, num_classes)

        def cost(point: dict[str, Any]):
            return space.cost(point, input_shape=recipe.input_shape, num_classes=num_classes)

        def trainable_cost(point: dict[str, Any]):  # the sampler and the gate: a point must also build at the proxy
            prof = cost(point)
            proxy.check(point)  # ProxyResolutionError (a SpecError): drawn again, or failed at the gate
            return prof

        census = take_census(space, cost, budget, samples=recipe.search.census, seed=recipe.search.seed,
                             proxy=proxy)
        hardware = make_hardware_gate(recipe, space, num_classes, stop=stop, progress=_work_progress(reporter))
        if hardware is not None:  # a latency or memory budget no point meets fails here, on the predictions
            check_feasible(hardware, space, samples=min(recipe.search.census, 50), seed=recipe.search.seed)
        reporter.census(space, recipe, census, num_classes, data)
        if hardware is not None:
            reporter.note(describe_budgets(recipe, hardware))

        sampler = _make_sampler(recipe, space, lambda p: trainable_cost(p).macs, budget,
                                screen=hardware.screen if hardware is not None else None)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the store's folder exists before the study records it (a recorded folder that is missing counts as moved)
        store = None
        if pauses_trials(recipe):
            if artifacts.kind == "folder":
                store_folder = Path(artifacts.where)
                store_created = missing_root(store_folder)
            store = open_artifact_store(artifacts)
        study, url = open_study(recipe, space, sampler, _make_pruner(recipe), out, num_classes, artifacts)
    except BaseException:
        if store_folder is not None:
            remove_empty_dirs(store_folder, store_created)
        remove_empty_dirs(out, created)
        raise
    attrs.record_val_images(study, len(data.y_val))  # the n of every accuracy's standard error
    result = SearchResult(study_name=study.study_name, storage=url, out=out, best=None, trials=0, census=census)
    outputs = _Outputs(study, space, recipe, num_classes, out)
    loop = SearchLoop(
        study=study, space=space, sampler=sampler, cost=trainable_cost, budget=budget, target=recipe.search.trials,
        multi_objective=recipe.search.multi_objective,
        training=_training(recipe, space, data, device, out, store, fit_with=fit_with, build_with=build_with),
        coordinator=Coordinator(study, url, list(space.dimensions), note=reporter.note), reporter=reporter,
        stop=stop, deadline=Deadline(started=t0, timeout=recipe.search.timeout),
        after_trial=lambda: outputs.write(final=False), hardware=hardware,
        second_objective=recipe.search.objectives[-1],
    )
    stats = loop.run()
    result.trained, result.screened, result.screened_fit = stats.trained, stats.screened, stats.screened_fit
    result.stopped_by_timeout, result.interrupted = stats.stopped_by_timeout, stats.interrupted
    result.stop_reason, result.exit_code = stop.reason, stop.exit_code
    result.failure = None if stop.set else all_failed(study.get_trials(deepcopy=False))
    if result.failure is not None:
        result.exit_code = EXIT_ALL_FAILED
    result.files = outputs.write(final=True)
    attach_artifacts(study, [p for p in result.files if p.name in _DASHBOARD_FILES], out, note=reporter.note,
                     open_store=lambda: store if store is not None else open_artifact_store(artifacts))
    result.handover = write_handover(space, recipe, num_classes, out, has_best=best_trial(study) is not None)
    if result.handover.baseline is not None:
        result.files.append(result.handover.baseline)
    result.best = best_trial(study)
    result.trials = len(counted(study.get_trials(deepcopy=False)))
    result.seconds = time.perf_counter() - t0
    reporter.summary(study, space, recipe, result)
    # the search's outputs are written: a stop here loses nothing; a study with no result has nothing to retrain
    if recipe.search.retrain_epochs and not stop.set and result.failure is None:
        from nascomp.search.outputs.retrain import retrain_handover

        result.retrained, path = retrain_handover(result.handover, recipe, out, stop=stop, console=reporter.console,
                                                  bars=reporter.bars)
        if path is not None:
            result.files.append(path)
        result.interrupted, result.stop_reason, result.exit_code = stop.set, stop.reason, stop.exit_code
    return result


def _training(recipe: Recipe, space: SearchSpace, data: ImageData, device: torch.device, out: Path,
              store: Any = None, *, fit_with: Callable[..., FitResult] | None = None,
              build_with: Callable[..., torch.nn.Module] | None = None) -> Training:
    """The proxy schedule: every point starts from the same seed, at the proxy resolution, on the train split.
    Paused trials save their states in ``store`` (any Optuna artifact store; default ``out/artifacts``);
    ``fit_with``, ``build_with``: :func:`run_search`'s ``fit`` and ``build`` (``None``: the real ones)."""
    size = recipe.data.image_size
    train_model = fit if fit_with is None else fit_with
    build_spec = build if build_with is None else build_with

    def build_point(point: dict[str, Any]) -> torch.nn.Module:
        torch.manual_seed(recipe.search.seed)
        return build_spec(space.spec(point, num_classes=data.num_classes,
                                     input_shape=(recipe.input_shape[0], size, size)))

    def fit_model(model: torch.nn.Module, **callbacks: Any):
        return train_model(model, data, recipe.train, device=device, seed=recipe.search.seed, **callbacks)

    steps = fidelity_steps(recipe.train.data_fractions, recipe.train.epochs)
    asha = pauses_trials(recipe)
    return Training(build=build_point, fit=fit_model, epochs=recipe.train.epochs,
                    steps_per_epoch=steps_per_epoch(len(data.y_train), recipe.train.batch_size), device=device,
                    step_of=steps.__getitem__, epoch_steps=tuple(recipe.train.epoch_steps(len(data.y_train))),
                    val_images=tuple(recipe.train.val_images(len(data.y_val))),
                    ladder=Ladder(rungs=recipe.train.epochs, eta=reduction_factor(recipe.train.data_fractions))
                    if asha else None,
                    states=SavedStates(store if store is not None else default_store(out)) if asha else None)


class _Outputs:
    """The study's files in ``out``: ``trials.csv`` after every trial, ``best.yaml`` when the best changes, and the
    plots at the end."""

    def __init__(self, study: optuna.Study, space: SearchSpace, recipe: Recipe, num_classes: int, out: Path):
        self.study, self.space, self.recipe, self.num_classes, self.out = study, space, recipe, num_classes, out
        self.best_number: int | None = None

    def write(self, final: bool) -> list[Path]:
        files = [write_trials_csv(self.study, list(self.space.dimensions), self.out / "trials.csv")]
        best = best_trial(self.study)
        if best is not None and (final or best.number != self.best_number):
            path = export_best(self.study, self.space, self.recipe, self.num_classes, self.out)
            self.best_number = best.number
            if path:
                files.append(path)
        elif best is not None:
            files.append(self.out / "best.yaml")
        if final:
            files.extend(write_plots(self.study, self.out, **self.recipe.plot_costs()))
        return files
