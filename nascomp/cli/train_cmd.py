"""``nascomp train SPEC``: train a zoo net, a spec file or a study's best.yaml to the end, with a test accuracy."""

from __future__ import annotations

import argparse

from nascomp._stop import StopFlag
from nascomp.cli._common import add_spec_arguments, make_console, spec_overrides
from nascomp.train.config import OPTIMIZERS, RunConfig

NAME = "train"
HELP = "train a spec (zoo net, YAML file or a study's best.yaml) on a data set; report its test accuracy"
DESCRIPTION = (
    "Train SPEC to the end: its classifier width and input size follow the data; AdamW (or SGD with Nesterov "
    "momentum) and cosine decay after a linear warm-up, label smoothing, no weight decay on norm and bias parameters, "
    "batch-norm statistics recalibrated before every evaluation; "
    "AMP on CUDA, channels_last on CUDA and CPU. A checkpoint is written after every epoch: rerunning the same "
    "command resumes. "
    "The test split (official where the data set has one) is evaluated once, at the end. See docs/train.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    d = RunConfig()
    parser.add_argument("--data", default=d.data, metavar="SOURCE",
                        help="digits, fashion-mnist[:DIR] (default; /usr/share/datasets/fashion-mnist), cifar10:DIR "
                             "or imagefolder:DIR")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the training split (default {d.epochs})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"images per step (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default: AdamW 1e-3, SGD 0.1 x batch size / 256)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="adamw (default) or sgd (Nesterov momentum 0.9)")
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay,
                        help=f"on conv/linear weights only (default {d.weight_decay})")
    parser.add_argument("--label-smoothing", type=float, default=d.label_smoothing,
                        help=f"Inception-v3 label smoothing (default {d.label_smoothing})")
    parser.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs,
                        help=f"linear warm-up, at most a fifth of the run (default {d.warmup_epochs:g})")
    parser.add_argument("--image-size", type=int, default=None,
                        help="training side in pixels (default: the data's own size; 224 for image folders)")
    parser.add_argument("--device", default=d.device, help="auto (default: CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=d.seed, help="seeds initialisation, split, shuffling, augmentation")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/train-<name>/)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="train on a seeded, stratified subset of this many train+validation images (quick runs)")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="turn the standard augmentation off (pad-and-crop/flip, RandomResizedCrop)")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave out image-folder files that are not decodable images (counted) instead of stopping")
    parser.add_argument("--workers", type=int, default=d.workers,
                        help=f"DataLoader worker processes decoding image folders (default {d.workers})")
    parser.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    parser.add_argument("--no-progress", action="store_true", help="one line per epoch instead of progress bars")


def run(args: argparse.Namespace) -> int:
    from nascomp.cost.budget import format_macs
    from nascomp.train.run import train_spec

    config = RunConfig(
        data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, warmup_epochs=args.warmup_epochs,
        image_size=args.image_size, seed=args.seed, max_images=args.max_images, augment=args.augment,
        skip_bad_images=args.skip_bad_images, device=args.device, compile=args.compile, workers=args.workers,
    )
    console = make_console()
    with StopFlag(on_first=lambda msg: console.print(msg, highlight=False)) as stop:
        summary = train_spec(args.spec, config, out=args.out, overrides=spec_overrides(args), stop=stop,
                             progress=not args.no_progress, console=console)
    def p(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    if summary.interrupted:
        p(f"stopped ({stop.reason}) after {summary.epochs_done}/{summary.epochs} finished epoch(s); checkpoint and "
          f"metrics so far are in {summary.out}. Resume by running the same command again.")
        return summary.exit_code
    c, h, w = summary.input_shape
    p(f"trained {summary.spec_name} on {summary.data} for {summary.epochs} epochs at {c}x{h}x{w} "
      f"({summary.num_classes} classes) on {summary.device}")
    p(f"test accuracy {100 * summary.test_accuracy:.2f} % +- {100 * summary.test_stderr:.2f} % (standard error, "
      f"n = {summary.test_n:,} test images, {summary.test_source} split, evaluated once)")
    p(f"validation accuracy {100 * summary.val_accuracy:.2f} %; params {summary.params:,}; "
      f"{format_macs(summary.macs)} per image at {h}x{w} (MACs = the field's FLOPs; FlopCounterMode FLOPs / 2); "
      f"{summary.images_per_second:,.0f} training images/s; skipped images {summary.skipped_images}")
    p(f"wrote {summary.out}/: spec.yaml, weights.pt, metrics.csv, curves.png, summary.json, checkpoint.pt",
      )
    return 0
