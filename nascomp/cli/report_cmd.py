"""``nascomp report --storage URL [--study-name NAME] [--out DIR]``: show (and re-export) a recorded study."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "show a search study from its Optuna storage: top trials, summary; --out re-exports best.yaml, CSV, plots"
DESCRIPTION = (
    "Read a study written by `nascomp search` (any Optuna storage URL, or journal:FILE) and print its top trials "
    "and summary. With --out, write best.yaml, trials.csv, history.png and pareto.png there (atomically). Safe "
    "while a search is still running on the same storage."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", required=True,
                        help="storage URL, e.g. sqlite:///runs/NAME/study.db, postgresql://..., journal:FILE")
    parser.add_argument("--study-name", dest="study_name", help="the study (default: the storage's only study)")
    parser.add_argument("--out", help="folder to write best.yaml, trials.csv and the plots to")
    parser.add_argument("--top", type=int, default=10, help="rows of the trials table (default 10)")


def run(args: argparse.Namespace) -> int:
    from nascomp.search.report import Reporter, report_study

    report_study(args.storage, args.study_name, out=args.out, top=args.top, reporter=Reporter(bars=False))
    return 0
