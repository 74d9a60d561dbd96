"""Study recipes: what to search (space, budget), on what data, with which schedule and sampler, for how long.

A recipe is a YAML file in ``studies/`` (or anywhere); every field also has a ``nascomp search`` flag, and a flag
wins over the file. ``studies/default.yaml`` is used when no recipe is named.

One source of defaults: the defaults of the dataclasses below are the default recipe's values
(``studies/default.yaml``; ``test_search_recipe_defaults.py`` holds them equal, field by field), so a key a recipe
file leaves out takes the value the default study runs with. One exception keeps a schedule whole: a ``train:``
section that sets ``epochs`` or ``data_fractions`` has no data or validation shares unless it sets them too (its
epochs are full epochs, as the default recipe's shares fit its own three epochs only). Layout, with every default::

    space: se_resnext            # a built-in space name or a space file
    budget: 4GFLOPs              # hard limit on MACs (FLOPs are counted as MACs)
    input_shape: [3, 224, 224]   # the input the budget is measured at (and best.yaml declares)
    data: {source: fashion-mnist, image_size: 28, val_fraction: 0.25, max_images: 6000, split_seed: 0}
    train: {epochs: 3, data_fractions: [0.1111, 0.3333, 1.0], val_fractions: [0.3333, 1.0, 1.0], batch_size: 64,
            lr: 0.003, weight_decay: 0.0005, label_smoothing: 0.1, optimizer: adamw, warmup_fraction: 0.25,
            bn_recalibration_batches: 4}
    search: {sampler: tpe, pruner: sha, objectives: [accuracy], trials: 24, timeout: 9m, seed: 0, census: 300,
             retrain_epochs: null}
    study_name: null             # default <space>-<budget>-<data kind>
    storage: null                # default sqlite in the output folder
    artifact_store: null         # saved training states: default <out>/artifacts; a folder, s3://BUCKET, gs://BUCKET
    out: null                    # default runs/<study_name>
    device: auto                 # auto (CUDA when available), cpu, cuda, cuda:1
    latency_budget: null         # hard limit on forward latency at input_shape, e.g. 40ms (a unit is required)
    memory_budget: null          # hard limit on one training step's peak memory at input_shape, e.g. 8GiB
    latency: {device: cpu, batch_size: 1, threads: 1}   # where latency is predicted and measured
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascomp._shape import as_input_shape
from nascomp._resources import find_library_file, library_dir, library_names
from nascomp.cost.budget import format_macs, parse_budget
from nascomp.data import parse_data_source
from nascomp.errors import SearchError, SpecError
from nascomp.hardware.budgets import format_ms, parse_latency_budget, parse_memory_budget
from nascomp.registry import did_you_mean
from nascomp.spec.parse import read_yaml_file
from nascomp.search.recipe_values import parse_duration, parse_input_shape, parse_objectives
from nascomp.search.study_identity import check_study_name, legacy_seed
from nascomp.train import TrainConfig

__all__ = ["Recipe", "DataConfig", "SearchConfig", "LatencyConfig", "default_train", "load_recipe", "recipe_names",
           "SAMPLERS", "PRUNERS"]

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "sha", "hyperband", "none")

_TOP_KEYS = ("doc", "space", "budget", "input_shape", "data", "train", "search", "study_name", "storage",
             "artifact_store", "out", "device", "latency_budget", "memory_budget", "latency")


@dataclass(frozen=True)
class DataConfig:
    """Where trials get their images. ``image_size`` is the proxy training resolution (the budget is not).

    The defaults are the default recipe's: Fashion-MNIST at its native 28x28, a stratified subset of 6,000 images
    (``max_images``; ``None`` for all of them), a quarter of it held out for validation.

    ``split_seed`` seeds the validation split (and the ``max_images`` subsample). It belongs to the study: it is
    part of the recipe identity, so every worker of a study trains and ranks on the same split, whatever its own
    ``search.seed``. The test split never depends on it (it is fixed per data set by :mod:`nascomp.data`).
    """

    source: str = "fashion-mnist"
    image_size: int = 28
    val_fraction: float = 0.25
    max_images: int | None = 6000
    split_seed: int = 0


@dataclass(frozen=True)
class SearchConfig:
    """How the study searches.

    Attributes:
        sampler: ``tpe`` (seeded; multivariate) or ``random``.
        pruner: ``sha`` (successive halving over the rungs of ``train.data_fractions``, see
            :func:`nascomp.search.study.fidelity_steps`; the default), ``median`` (Optuna's MedianPruner: stop a
            trial whose epoch accuracy is below the median of earlier trials at that epoch), ``hyperband`` or
            ``none``. Ignored with two objectives (Optuna cannot prune those).
        objectives: ``[accuracy]``, or ``[accuracy, macs]`` or ``[accuracy, latency]`` for a Pareto front (maximize
            accuracy, minimize MACs or the measured latency at the recipe's ``latency`` settings).
        trials: Trials the study should hold in total (a rerun tops it up; it never adds this many more).
        timeout: Seconds; no trial starts that would likely end after it, and a trial still training when it
            passes is stopped after the current step (recorded as interrupted, not counted). ``None`` for no limit;
            the default is 540 (``9m``).
        seed: This worker's seed: the sampler and every trial's initialisation and shuffling. Not part of the
            study's identity, so workers of one study may each run with their own (the data split is
            ``data.split_seed``).
        census: Random points costed before training to show what the space holds under the budget.
        retrain_epochs: After the search, train ``best.yaml`` and ``baseline.yaml`` for this many epochs with
            :func:`nascomp.train.train_spec` and compare their test accuracies; ``None`` (default) for no retraining.
            Not part of the study's identity.
    """

    sampler: str = "tpe"
    pruner: str = "sha"
    objectives: tuple[str, ...] = ("accuracy",)
    trials: int = 24
    timeout: float | None = 540.0
    seed: int = 0
    census: int = 300
    retrain_epochs: int | None = None

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass(frozen=True)
class LatencyConfig:
    """Where a search predicts and measures latency (the recipe's ``latency:`` section; flags ``--latency-device``,
    ``--latency-batch-size``, ``--latency-threads``). Latency is always taken at the recipe's ``input_shape``, never
    at the proxy training resolution.

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N`` (checked present when the search starts).
        batch_size: Images per forward pass.
        threads: torch intra-op threads on CPU.
    """

    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1


def default_train() -> TrainConfig:
    """The default recipe's proxy schedule: :class:`~nascomp.train.TrainConfig`'s defaults (3 epochs, AdamW,
    one-cycle, label smoothing 0.1, BN recalibration) with successive halving over data shares, eta 3: each rung
    trains on a ninth, a third, then all of the train split, and validates on a third, then all of the validation
    split (docs/search.md, "The proxy schedule")."""
    return TrainConfig(data_fractions=(0.1111, 0.3333, 1.0), val_fractions=(0.3333, 1.0, 1.0))


@dataclass(frozen=True)
class Recipe:
    """A full study recipe (see the module docstring for the YAML). ``Recipe()`` is the default recipe,
    ``studies/default.yaml``, field by field (``source``, the file it was read from, aside)."""

    space: str = "se_resnext"
    budget: int = 4_000_000_000
    input_shape: tuple[int, int, int] = (3, 224, 224)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=default_train)
    search: SearchConfig = field(default_factory=SearchConfig)
    study_name: str | None = None
    storage: str | None = None
    artifact_store: str | None = None
    out: str | None = None
    device: str = "auto"
    latency_budget: float | None = None
    memory_budget: int | None = None
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    source: str | None = None

    @property
    def measures_latency(self) -> bool:
        """Whether trials get their latency measured: a latency budget, or latency as the second objective."""
        return self.latency_budget is not None or "latency" in self.search.objectives

    def plot_costs(self) -> dict[str, Any]:
        """The cost axis of ``pareto.png`` (``write_plots``' keywords): latency in an ``accuracy,latency`` study,
        else MACs, with the budget line of that axis."""
        cost = "latency" if "latency" in self.search.objectives else "macs"
        return {"budget": self.budget, "cost": cost, "latency_budget_ms": self.latency_budget}

    def resolved_study_name(self) -> str:
        if self.study_name:
            return self.study_name
        kind = parse_data_source(self.data.source)[0]
        budget = format_macs(self.budget).replace(" ", "")
        space = Path(self.space).stem if self.space.endswith((".yaml", ".yml")) else self.space
        hardware = f"-{format_ms(self.latency_budget).replace(' ', '')}" if self.latency_budget is not None else ""
        return f"{space}-{budget}{hardware}-{kind}"

    def resolved_out(self) -> Path:
        return Path(self.out).expanduser() if self.out else Path("runs") / self.resolved_study_name()

    def identity(self) -> dict[str, Any]:
        """The fields that define a study: a resumed study must match them (stored in the study's user attrs).

        ``search.seed`` is not one of them (each worker may have its own, issue 11); the data split's seed is,
        as ``data.split_seed``. Studies created before that stored a top-level ``seed`` that seeded both; see
        :func:`~nascomp.search.study_identity.upgrade_identity`.
        """
        identity = {
            "space": self.space,
            "budget": self.budget,
            "input_shape": list(self.input_shape),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "objectives": list(self.search.objectives),
            "sampler": self.search.sampler,
        }
        if self.measures_latency or self.memory_budget is not None:  # absent from studies without hardware budgets
            identity["hardware"] = {"latency_budget_ms": self.latency_budget, "memory_budget_bytes": self.memory_budget,
                                    "latency": dataclasses.asdict(self.latency)}
        return identity

    def adopt_split_seed(self, stored: dict[str, Any]) -> "Recipe":
        """This recipe resuming a study whose stored identity is ``stored``.

        A study created before ``data.split_seed`` existed (:func:`~nascomp.search.study_identity.legacy_seed`
        ``S``) had its split seeded by its one seed; a worker resuming it with ``search.seed == S`` (the old command
        line) takes ``split_seed = S`` so that it sees the study's split. Any other recipe is returned unchanged
        (and the identity check decides).
        """
        seed = legacy_seed(stored)
        if seed is None or self.data.split_seed == seed or self.search.seed != seed:
            return self
        return dataclasses.replace(self, data=dataclasses.replace(self.data, split_seed=seed))

    def with_overrides(self, **flags: Any) -> "Recipe":
        """Apply command-line flags (``None`` means not given): budget, space, data, trials, timeout, epochs (a number
        of epochs other than the recipe's ``train.data_fractions`` has drops the shares: N full epochs), seed,
        storage, artifact_store, study_name, out, device, input_shape, label_smoothing, image_size, max_images, split_seed, sampler,
        pruner, objectives, census, retrain_epochs, latency_budget, memory_budget, latency_device,
        latency_batch_size, latency_threads."""
        top, data, train, search, latency = {}, {}, {}, {}, {}
        for key, value in flags.items():
            if value is None:
                continue
            if key == "budget":
                top["budget"] = parse_budget(value)
            elif key == "input_shape":
                top["input_shape"] = parse_input_shape(value)
            elif key == "latency_budget":
                top["latency_budget"] = parse_latency_budget(value)
            elif key == "memory_budget":
                top["memory_budget"] = parse_memory_budget(value)
            elif key in ("latency_device", "latency_batch_size", "latency_threads"):
                latency[key.removeprefix("latency_")] = value
            elif key in ("space", "storage", "artifact_store", "study_name", "out", "device"):
                top[key] = str(value)
            elif key == "data":
                data["source"] = str(value)
            elif key in ("image_size", "max_images", "split_seed"):
                data[key] = int(value)
            elif key in ("epochs", "label_smoothing", "lr", "batch_size"):
                train[key] = value
            elif key == "timeout":
                search["timeout"] = parse_duration(value)
            elif key in ("trials", "seed", "census", "sampler", "pruner", "retrain_epochs"):
                search[key] = value
            elif key == "objectives":
                search["objectives"] = parse_objectives(value)
            else:
                raise SearchError(f"unknown recipe override '{key}'")
        fractions = self.train.data_fractions
        if "epochs" in train and fractions is not None and len(fractions) != int(train["epochs"]):
            # --epochs N replaces the recipe's schedule: N full epochs (shares are one per epoch; Optuna's pruner
            # then works on whole epochs)
            train["data_fractions"] = None
        if "epochs" in train and self.train.val_fractions is not None and \
                len(self.train.val_fractions) != int(train["epochs"]):
            train["val_fractions"] = None  # the validation shares go with them
        try:
            new_train = dataclasses.replace(self.train, **train)
        except SearchError as exc:  # name the flags that made the schedule invalid
            flags = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in train.items()
                              if k not in ("data_fractions", "val_fractions"))
            raise SearchError(f"{exc} (from {flags})" if flags else str(exc)) from None
        recipe = dataclasses.replace(
            self,
            data=dataclasses.replace(self.data, **data),
            train=new_train,
            search=dataclasses.replace(self.search, **search),
            latency=dataclasses.replace(self.latency, **latency),
            **top,
        )
        recipe.validate()
        return recipe

    def validate(self) -> None:
        """Check the values that no type annotation enforces.

        Raises:
            SearchError, DataError: the first problem found.
        """
        parse_data_source(self.data.source)
        s = self.search
        if s.sampler not in SAMPLERS:
            raise SearchError(f"unknown sampler '{s.sampler}' (valid: {', '.join(SAMPLERS)})")
        if s.pruner not in PRUNERS:
            raise SearchError(f"unknown pruner '{s.pruner}' (valid: {', '.join(PRUNERS)})")
        if s.trials < 1:
            raise SearchError(f"trials must be at least 1, got {s.trials}")
        if s.census < 0:
            raise SearchError(f"census must be 0 or more points, got {s.census}")
        if s.retrain_epochs is not None and (isinstance(s.retrain_epochs, bool) or not isinstance(s.retrain_epochs, int)
                                             or s.retrain_epochs < 1):
            raise SearchError(f"retrain_epochs must be a whole number of at least 1 (or none), got "
                              f"{s.retrain_epochs!r}")
        for name, seed in (("search.seed", s.seed), ("data.split_seed", self.data.split_seed)):
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise SearchError(f"{name} must be a whole number of at least 0, got {seed!r}")
        if self.data.image_size < 1 or not 0 < self.data.val_fraction < 1:
            raise SearchError("data.image_size must be positive and data.val_fraction in (0, 1)")
        if as_input_shape(self.input_shape) is None:
            raise SearchError(f"input_shape must be (C, H, W) of positive integers, got {self.input_shape}")
        if self.study_name is not None:
            check_study_name(self.study_name)
        lat = self.latency
        for name, value in (("latency.batch_size", lat.batch_size), ("latency.threads", lat.threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SearchError(f"{name} must be a whole number of at least 1, got {value!r}")
        if not isinstance(lat.device, str) or not lat.device:
            raise SearchError(f"latency.device must be cpu, cuda or cuda:N, got {lat.device!r}")


def recipe_names() -> list[str]:
    """Names of the built-in recipes (``studies/*.yaml``)."""
    return library_names("studies")


def _recipe_path(name_or_path: str | os.PathLike | None) -> Path:
    if name_or_path is None:
        return library_dir("studies") / "default.yaml"
    return find_library_file("studies", name_or_path, what="recipe", error=SearchError)


def load_recipe(name_or_path: str | os.PathLike | None = None) -> Recipe:
    """Read a recipe file or a built-in recipe by name (``None``: ``studies/default.yaml``).

    Raises:
        SearchError: unknown name, missing file, unknown keys or bad values (the message names the file).

    Example:
        >>> load_recipe().with_overrides(budget="600MFLOPs", trials=3).budget
        600000000
    """
    path = _recipe_path(name_or_path)
    try:
        raw = read_yaml_file(path)
    except SpecError as exc:
        raise SearchError(str(exc)) from None
    raw = raw or {}
    where = str(path)
    if not isinstance(raw, dict):
        raise SearchError(f"{where}: a recipe must be a mapping (keys: {', '.join(_TOP_KEYS)})")
    _check_keys(raw, _TOP_KEYS, where, "")
    kwargs: dict[str, Any] = {"source": where}
    try:
        if "budget" in raw:
            kwargs["budget"] = parse_budget(raw["budget"])
        if "input_shape" in raw:
            kwargs["input_shape"] = parse_input_shape(raw["input_shape"])
        if raw.get("latency_budget") is not None:
            kwargs["latency_budget"] = parse_latency_budget(raw["latency_budget"])
        if raw.get("memory_budget") is not None:
            kwargs["memory_budget"] = parse_memory_budget(raw["memory_budget"])
        for key in ("space", "study_name", "storage", "artifact_store", "out", "device"):
            if raw.get(key) is not None:
                kwargs[key] = str(raw[key])
        sections = {"data": DataConfig, "train": TrainConfig, "search": SearchConfig, "latency": LatencyConfig}
        for key, cls in sections.items():
            section = raw.get(key) or {}
            if not isinstance(section, dict):
                raise SearchError(f"'{key}' must be a mapping")
            names = tuple(f.name for f in dataclasses.fields(cls))
            _check_keys(section, names, where, f"{key}.")
            values = dict(section)
            if key == "search":
                if "timeout" in values:
                    values["timeout"] = parse_duration(values["timeout"])
                if "objectives" in values:
                    values["objectives"] = parse_objectives(values["objectives"])
            if key == "train":
                if "epochs" in values or "data_fractions" in values:  # its own schedule: no default shares
                    values.setdefault("data_fractions", None)
                    values.setdefault("val_fractions", None)
                kwargs[key] = dataclasses.replace(default_train(), **values)
            else:
                kwargs[key] = cls(**values)
        recipe = Recipe(**kwargs)
        recipe.validate()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SearchError) and str(exc).startswith(where):
            raise
        raise SearchError(f"{where}: {exc}") from None
    return recipe


def _check_keys(mapping: dict, valid: tuple[str, ...], where: str, prefix: str) -> None:
    for key in mapping:
        if key not in valid:
            hint = did_you_mean(f"{prefix}{key}", [f"{prefix}{v}" for v in valid])
            line = mapping.line_of(key) if hasattr(mapping, "line_of") else None
            loc = f"{where}:{line}" if line else where
            raise SearchError(f"{loc}: unknown recipe key '{prefix}{key}'{hint} (valid: {', '.join(valid)})")
