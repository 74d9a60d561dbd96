"""``nascomp report --storage URL --study-name NAME [--out DIR]``: a study's output files, from its storage alone."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "rewrite a study's best.yaml, trials.csv and plots from its Optuna storage (e.g. a worker pool's database)"
DESCRIPTION = (
    "Read a study made by `nascomp search` from its storage and write best.yaml, trials.csv, history.png and "
    "pareto.png to --out (default runs/<study-name>), then print its top trials. Needs nothing but the storage "
    "(and the search space, by the name or file recorded in the study): use it on any machine, while workers "
    "still run or after they stopped. Trials counted: finished ones, less those lost with a killed worker (their "
    "retries count) and slots given back unused."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", required=True,
                        help="the study's Optuna storage: postgresql+psycopg://USER:PASS@HOST/DB, journal:FILE or "
                             "sqlite:///FILE")
    parser.add_argument("--study-name", dest="study_name", required=True, help="the study's name")
    parser.add_argument("--out", help="output folder (default runs/<study-name>)")


def run(args: argparse.Namespace) -> int:
    from nascomp._console import make_console
    from nascomp.search.outputs.regenerate import load_search_study, regenerate_outputs
    from nascomp.search.outputs.report import trials_table
    from nascomp.search.workers.coordinator import counted

    files = regenerate_outputs(args.storage, args.study_name, args.out)
    study, recipe, _, _ = load_search_study(args.storage, args.study_name)
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state.name in ("RUNNING", "WAITING") for t in trials)
    console = make_console()  # 160 columns off a terminal, as the search's own table
    console.print(trials_table(study))
    console.print(f"study '{args.study_name}': {len(counted(trials))} trials counted, {running} running or queued, "
                  f"{len(trials)} in storage", highlight=False)
    for path in files:
        console.print(f"wrote {path}", highlight=False)
    return 0
