"""``train_spec``: train a spec to the end on a data set, with checkpoints, resume and an honest test accuracy.

The run: load the spec and the data, fit the classifier width and input size to the data, refuse a foreign
checkpoint, then train epoch by epoch (checkpoint after each), evaluate the test split once at the end and write
the outputs (:mod:`nascomp.train.outputs`). Determinism: initialisation is seeded from ``seed``; each epoch's
shuffling and augmentation are seeded from ``(seed, epoch)``; the checkpoint restores the torch RNG state, so on
the CPU a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nascomp._atomic import missing_root, prepare_out_dir, remove_empty_dirs, write_atomic
from nascomp._console import make_console
from nascomp._device import resolve_device
from nascomp._stats import accuracy_se
from nascomp._stop import StopFlag
from nascomp.cost.profile import profile
from nascomp.data import load_data
from nascomp.data.dataset import parse_data_source
from nascomp.errors import DiskFullError, SpecError
from nascomp.graph.build import build
from nascomp.spec.load import SpecSource, load_spec
from nascomp.spec.write import spec_mapping, spec_yaml
from nascomp.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, run_identity, save_checkpoint
from nascomp.train.config import RunConfig
from nascomp.train.engine import Engine, EpochReport, TrainingDiverged, TrainingInterrupted
from nascomp.train.outputs import (TrainSummary, write_curves, write_metrics_csv,
                                   write_summary, write_weights)
from nascomp.train.progress import TrainProgress

__all__ = ["train_spec", "default_out", "resolve_device"]


def default_out(spec_name: str) -> Path:
    """``runs/train-<name>/`` (relative to the current folder)."""
    return Path("runs") / f"train-{spec_name}"


def _check_channels(spec_name: str, channels: int, data: str) -> None:
    kind, _ = parse_data_source(data)
    native = {"digits": "1-channel (grayscale)", "fashion-mnist": "1-channel (grayscale)", "cifar10": "3-channel (RGB)"}
    ok = channels in (1, 3) if kind in ("digits", "fashion-mnist", "imagefolder") else channels == 3
    if not ok:
        gives = native.get(kind, "1- or 3-channel")
        raise SpecError(f"spec '{spec_name}' takes {channels}-channel input, but --data {data} gives {gives} images "
                        f"(grayscale is replicated to 3 channels for RGB nets); use a spec with 3 (or 1) input "
                        f"channels, e.g. --input 3x32x32")


def _fit_to_data(base, data) -> tuple[str, Any, Any]:
    """The spec text with the data's input shape and class count and the run's ``--set`` values (``base.params``;
    a Spec's raw mapping does not hold them), the spec, and its profile."""
    params = {**base.params, **({"num_classes": data.num_classes} if "num_classes" in base.params else {})}
    text = spec_yaml(spec_mapping(base.raw, origin=base.source, name=base.raw.get("name", base.name),
                                  input_shape=data.image_shape, params=params))
    spec = load_spec(text)
    prof = profile(spec)
    if prof.output_shape[-1] != data.num_classes:
        raise SpecError(f"spec '{base.name}' outputs {prof.output_shape[-1]} classes and has no 'num_classes' param "
                        f"to change it; the data has {data.num_classes} classes")
    return text, spec, prof


def train_spec(
    spec: SpecSource,
    config: RunConfig,
    *,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    stop: StopFlag | None = None,
    progress: bool = True,
    console=None,
) -> TrainSummary:
    """Train ``spec`` on ``config.data`` and write spec.yaml, metrics.csv, curves.png, weights.pt, summary.json.

    Args:
        spec: A zoo name, a YAML file (e.g. a study's ``best.yaml``), YAML text or a :class:`~nascomp.Spec`.
        config: The run's settings (:class:`RunConfig`).
        out: Output folder (created; default ``runs/train-<name>``). A checkpoint there of the same spec, data
            and schedule is resumed.
        overrides: Spec param overrides (``--set``) and ``input_shape`` (its channel count is kept; height and
            width always follow the data, and ``num_classes`` the data's classes).
        stop: A :class:`~nascomp._stop.StopFlag` polled after every step; when set, the run stops keeping the last
            finished epoch's checkpoint, and the summary says ``interrupted`` with the flag's exit code.
        progress: rich progress bars (``True``) or one line per epoch.
        console: A rich console for messages, created by the caller (the CLI passes its own); default
            :func:`nascomp._console.make_console` (stdout).

    Returns:
        :class:`~nascomp.train.outputs.TrainSummary`.

    Raises:
        NascompError: bad settings, an unwritable ``out``, a foreign checkpoint.
        TrainingDiverged: the loss became NaN or infinite (a :class:`~nascomp.errors.NascompError`).
        SpecError: a spec whose input channels the data cannot give, or whose classes cannot follow the data.
        DataError: missing or malformed data.
    """
    started = time.perf_counter()
    console = console or make_console()
    stop = stop or StopFlag()
    overrides = dict(overrides or {})
    if "num_classes" in overrides:  # it would be replaced by the data's class count without a word
        raise SpecError(f"--set num_classes={overrides['num_classes']}: nascomp train takes the class count from the "
                        f"data (--data {config.data}); drop this --set")
    base = load_spec(spec, **overrides)
    profile(base)  # the spec's shapes are checked here, where an error names its file and line, before any folder
    channels = base.input_shape[0]
    _check_channels(base.name, channels, config.data)
    device = resolve_device(config.device)
    out = Path(out) if out is not None else default_out(base.name)
    created = missing_root(out)  # every folder this run creates (``runs/`` too) goes again if it writes nothing
    prepare_out_dir(out)
    try:
        data = load_data(config.data, image_size=config.image_size, channels=channels,
                         val_fraction=config.val_fraction, seed=config.seed, max_images=config.max_images,
                         skip_bad_images=config.skip_bad_images)
        text, trained, prof = _fit_to_data(base, data)
        identity = run_identity(text, data.identity(), config.schedule_identity())
        ckpt = load_checkpoint(out / CHECKPOINT_NAME, identity)
    except BaseException:
        remove_empty_dirs(out, created)
        raise
    spec_existed = (out / "spec.yaml").exists()

    torch.manual_seed(config.seed)
    model = build(trained)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    engine = Engine(model, data, config.engine_config(), device=device, seed=config.seed)
    metrics: list[dict] = []
    start_epoch = 0
    if ckpt is not None:
        engine.resume(ckpt.engine_state())
        metrics, start_epoch = ckpt.metrics, ckpt.epoch
    summary = TrainSummary(
        spec_name=trained.name, out=str(out), data=config.data, device=f"{device} ({engine.precision})",
        epochs=config.epochs, epochs_done=start_epoch, input_shape=tuple(data.image_shape),
        num_classes=data.num_classes, params=n_params, macs=int(prof.macs), test_n=len(data.y_test),
        test_source=data.test_source, skipped_images=len(data.skipped), history=metrics,
    )
    with _tidy_on_failure(out, created, spec_existed), TrainProgress(
            console, bars=progress, epochs=config.epochs, steps_per_epoch=engine.epoch_steps[-1],
            start_epoch=start_epoch,
    ) as bars:
        write_atomic(out / "spec.yaml", text)
        if start_epoch:
            bars.note(f"resuming {out / CHECKPOINT_NAME} after epoch {start_epoch}/{config.epochs}")
        if data.skipped:
            bars.note(f"skipped {len(data.skipped)} bad image file(s) (--skip-bad-images), e.g. {data.skipped[0]}")

        def epoch_done(report: EpochReport) -> None:
            row = {"epoch": report.epoch + 1, "lr": report.lr, "train_loss": report.train_loss,
                   "val_loss": report.val_loss, "val_accuracy": report.val_accuracy, "seconds": report.seconds,
                   "images_per_second": report.train_images / max(report.train_seconds, 1e-9),
                   "train_images": report.train_images, "train_seconds": report.train_seconds}
            metrics.append(row)
            save_checkpoint(out / CHECKPOINT_NAME, epoch=report.epoch + 1, model=model, optimizer=engine.optimizer,
                            scheduler=engine.scheduler, metrics=metrics, identity=identity, scaler=engine.scaler)
            write_metrics_csv(out / "metrics.csv", metrics)
            write_curves(out / "curves.png", metrics, title=f"{trained.name} on {config.data}")
            summary.epochs_done = report.epoch + 1
            bars.epoch_done(row)

        try:
            engine.run(on_step=lambda step, steps: bars.step(), on_epoch=epoch_done, should_stop=lambda: stop.set,
                       keep_states=False)
        except TrainingInterrupted:
            pass  # the last finished epoch's checkpoint is kept
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"training diverged: the {exc}; lower --lr (now {config.peak_lr:g})") from None
    summary.history = metrics
    if metrics:
        summary.val_accuracy = metrics[-1]["val_accuracy"]
        summary.images_per_second = (sum(r["train_images"] for r in metrics)
                                     / max(1e-9, sum(r["train_seconds"] for r in metrics)))
    if stop.set:
        summary.interrupted, summary.exit_code = True, stop.exit_code
        summary.seconds = time.perf_counter() - started
        if metrics:
            write_metrics_csv(out / "metrics.csv", metrics)
        return summary
    with _tidy_on_failure(out, created, spec_existed):
        accuracy, _ = engine.evaluate("test")
        summary.test_accuracy = accuracy
        summary.test_stderr = accuracy_se(accuracy, len(data.y_test))
        write_weights(out / "weights.pt", model)
        summary.seconds = time.perf_counter() - started
        write_summary(out / "summary.json", summary)
    return summary


@contextlib.contextmanager
def _tidy_on_failure(out: Path, created: Path | None, spec_existed: bool) -> Iterator[None]:
    """On an error (bad data found mid-epoch, a full disk...): with no checkpoint to resume from, remove what this
    run wrote (spec.yaml, and ``out`` when this run created it), so no half-made output folder stays; with one, keep
    it, and a full disk's message says so and how to resume."""
    try:
        yield
    except BaseException as exc:
        checkpoint = out / CHECKPOINT_NAME
        if not checkpoint.is_file():
            if not spec_existed:
                (out / "spec.yaml").unlink(missing_ok=True)
            remove_empty_dirs(out, created)
        if isinstance(exc, DiskFullError):
            kept = (f"the last good checkpoint {checkpoint} is kept: run the same command again to resume from it"
                    if checkpoint.is_file() else "no epoch had finished, so nothing was kept")
            raise DiskFullError(f"{exc}; {kept}", path=exc.path, needed_bytes=exc.needed_bytes) from None
        raise

