"""Training: one engine (:class:`~nascomp.train.engine.Engine`) in two configurations, the proxy a search trial runs
(:func:`fit`, :class:`TrainConfig`) and full training runs (:func:`train_spec`, ``nascomp train``,
:class:`RunConfig`). Both take their batches from :func:`nascomp.data.pipeline.batches`."""

from nascomp._lazy import lazy_exports

__all__ = ["Engine", "EngineConfig", "FitResult", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate",
           "fit", "RunConfig", "TrainSummary", "epoch_steps", "steps_per_epoch", "train_spec"]
__getattr__, __dir__ = lazy_exports(__name__, {  # imported on first use: all but RunConfig load torch
    "RunConfig": "nascomp.train.config",
    **{name: "nascomp.train.engine" for name in
       ("Engine", "EngineConfig", "TrainingDiverged", "TrainingInterrupted", "epoch_steps", "steps_per_epoch")},
    **{name: "nascomp.train.trial" for name in ("FitResult", "TrainConfig", "fit")},
    "evaluate": "nascomp.train.evaluation",
    "TrainSummary": "nascomp.train.outputs",
    "train_spec": "nascomp.train.run",
})
