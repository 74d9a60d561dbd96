"""Training: the proxy loop a search trial runs (:func:`fit`) and full training runs (:func:`train_spec`,
``nascomp train``). Both take their batches from :func:`nascomp.data.pipeline.batches`."""

from nascomp._lazy import lazy_exports

__all__ = ["FitResult", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit", "RunConfig",
           "TrainSummary", "train_spec"]
__getattr__, __dir__ = lazy_exports(__name__, {  # imported on first use: all but RunConfig load torch
    "RunConfig": "nascomp.train.config",
    **{name: "nascomp.train.loop" for name in
       ("FitResult", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit")},
    "TrainSummary": "nascomp.train.outputs",
    "train_spec": "nascomp.train.run",
})
