"""``nascomp search [RECIPE] [--budget 4GFLOPs] ...``: architecture search under a hard compute budget."""

from __future__ import annotations

import argparse
import sys

NAME = "search"
HELP = "search a space for the most accurate architecture under a compute budget (Optuna study)"
DESCRIPTION = (
    "Run (or resume) an architecture search. RECIPE is a study recipe (a name in studies/ or a YAML file; default: "
    "the default recipe); every flag overrides the recipe's field. No candidate over the budget is ever trained: "
    "the analytic cost decides before any weight exists. Writes best.yaml, trials.csv, history.png and "
    "pareto.png to the output folder; the study itself lives in the Optuna storage (SQLite in the output folder "
    "by default). Rerunning the same command resumes: --trials is the study's total, not a number to add. "
    "Ctrl-C or SIGTERM (a batch scheduler, `timeout`) stops after the current training step, with everything "
    "saved (exit code 130 or 143); a second signal aborts at once. A study whose every trial failed exits with code "
    "3 (outputs written; trials.csv has each reason)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", metavar="RECIPE", help="study recipe: a name in studies/ or a YAML file")
    parser.add_argument("--budget", help="hard MAC budget, e.g. 4GFLOPs, '600 MFLOPs', 4GMACs, 4e9 (FLOPs = MACs)")
    parser.add_argument("--latency-budget", dest="latency_budget", metavar="TIME",
                        help="hard forward-latency budget at the input shape, with a unit: 40ms, 0.04s, 40000us; "
                             "screened on the predicted latency, then measured once before a candidate trains")
    parser.add_argument("--memory-budget", dest="memory_budget", metavar="SIZE",
                        help="hard budget on one training step's peak memory at the input shape and train batch "
                             "size, predicted from the spec: 8GiB, 512MB")
    parser.add_argument("--latency-device", dest="latency_device", help="where latency is taken: cpu (default), "
                                                                        "cuda or cuda:N")
    parser.add_argument("--latency-batch-size", dest="latency_batch_size", type=int, metavar="B",
                        help="images per forward pass for the latency (default 1)")
    parser.add_argument("--latency-threads", dest="latency_threads", type=int, metavar="T",
                        help="torch threads for the latency on CPU (default 1)")
    parser.add_argument("--space", help="search space: a name in search_spaces/ (se_resnext, densenet) or a YAML file")
    parser.add_argument("--input-shape", dest="input_shape", metavar="CxHxW",
                        help="input shape the budget is measured at (default 3x224x224)")
    parser.add_argument("--data", help="fashion-mnist[:DIR] (default), digits, cifar10:DIR or imagefolder:DIR")
    parser.add_argument("--trials", type=int, help="trials the study should hold in total (default 24)")
    parser.add_argument("--timeout", help="time limit for this run: seconds or 90s, 8m, 1h; no trial starts that "
                                          "would likely end after it, and none goes on to its next epoch that would")
    parser.add_argument("--epochs", type=int, help="proxy training epochs per trial (default 3, successive halving "
                                                   "over data shares; another count trains N full epochs)")
    parser.add_argument("--seed", type=int, help="this worker's seed: the sampler and each trial's initialisation and "
                                                 "shuffling (workers of one study may each have their own)")
    parser.add_argument("--split-seed", dest="split_seed", type=int,
                        help="seed of the validation split; part of the study (default 0; the test split is fixed "
                             "per data set)")
    parser.add_argument("--retrain-epochs", dest="retrain_epochs", type=int, metavar="N",
                        help="after the search, train best.yaml and the scaled baseline for N epochs (nascomp train) "
                             "and print their test accuracies side by side (also in retrain.csv)")
    parser.add_argument("--storage", help="Optuna storage URL: sqlite:///FILE, postgresql+psycopg://USER:PASS@HOST/DB, "
                                          "journal:FILE (default: SQLite in the output folder). Workers started "
                                          "with the same --storage and --study-name share one study "
                                          "(docs/distributed.md)")
    parser.add_argument("--artifact-store", dest="artifact_store", metavar="DIR|s3://BUCKET|gs://BUCKET",
                        help="Optuna artifact store of the paused trials' saved states (and the files attached for "
                             "optuna-dashboard): a folder (default <out>/artifacts), s3://BUCKET (pip install boto3) or "
                             "gs://BUCKET (pip install google-cloud-storage); every worker of a study uses the same one")
    parser.add_argument("--study-name", dest="study_name", help="study name (default <space>-<budget>-<data>)")
    parser.add_argument("--out", help="output folder (default runs/<study-name>)")
    parser.add_argument("--device", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--label-smoothing", dest="label_smoothing", type=float,
                        help="Inception-v3 label smoothing a in [0, 1): y = (1 - a) one_hot + a / C")
    parser.add_argument("--image-size", dest="image_size", type=int, help="proxy training resolution (default 28)")
    parser.add_argument("--sampler", help="tpe (default) or random")
    parser.add_argument("--pruner", help="sha (default: successive halving over train.data_fractions), median, "
                                         "hyperband or none")
    parser.add_argument("--objectives", help="accuracy (default), or accuracy,macs or accuracy,latency (measured) for "
                                             "a Pareto front")
    parser.add_argument("--census", type=int, help="random points costed before training (default 300)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no live progress bars")
    parser.add_argument("--check-fidelity", dest="check_fidelity", type=int, metavar="K",
                        help="after the search (or on a finished study), retrain the top K and K random complete "
                             "trials for 5 epochs with nascomp train and print Spearman's rho between proxy and "
                             "test accuracy; writes fidelity.csv")


def run(args: argparse.Namespace) -> int:
    from nascomp.search import load_recipe, run_search
    from nascomp.search.outputs.report import Reporter

    recipe = load_recipe(args.recipe).with_overrides(
        budget=args.budget, space=args.space, input_shape=args.input_shape, data=args.data, trials=args.trials, timeout=args.timeout,
        epochs=args.epochs, seed=args.seed, storage=args.storage, artifact_store=args.artifact_store, study_name=args.study_name, out=args.out,
        device=args.device, label_smoothing=args.label_smoothing, image_size=args.image_size, sampler=args.sampler,
        pruner=args.pruner, objectives=args.objectives, census=args.census, split_seed=args.split_seed,
        retrain_epochs=args.retrain_epochs, latency_budget=args.latency_budget, memory_budget=args.memory_budget,
        latency_device=args.latency_device, latency_batch_size=args.latency_batch_size,
        latency_threads=args.latency_threads,
    )
    if args.check_fidelity is not None and args.check_fidelity < 1:
        from nascomp.errors import SearchError

        raise SearchError(f"--check-fidelity needs K >= 1 trials, got {args.check_fidelity}")
    try:
        result = run_search(recipe, reporter=Reporter(bars=args.progress))
    except Exception as exc:
        from nascomp.search.workers.storage import default_storage_url, disk_full_in_search

        out = recipe.resolved_out()
        full = disk_full_in_search(exc, recipe.storage or default_storage_url(out), out)
        if full is None:
            raise
        raise full from None
    if result.interrupted:
        print(f"nascomp search: {result.stop_reason}: stopped with {result.trials} architecture(s) recorded, outputs "
              f"written to {result.out}; rerun the same command to resume", file=sys.stderr)
        return result.exit_code
    if result.failure is not None:  # the outputs are written; the command must not report success
        print(f"nascomp search: error: {result.failure}; outputs written to {result.out} (trials.csv has each "
              f"trial's reason); fix the cause, then start a new study (--study-name or --out) or raise --trials to "
              f"add trials to this one", file=sys.stderr)
        return result.exit_code
    if args.check_fidelity:
        import optuna

        from nascomp.search.outputs.fidelity import check_fidelity, describe
        from nascomp.search.space.search_space import load_space
        from nascomp.search.workers.storage import open_storage

        study = optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))
        fidelity = check_fidelity(study, load_space(recipe.space), recipe, result.out, args.check_fidelity)
        print(describe(fidelity))
    return result.exit_code
