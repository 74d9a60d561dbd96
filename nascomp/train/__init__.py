"""Training: the proxy loop a search trial runs (:func:`fit`) and full training runs (:func:`train_spec`,
``nascomp train``). Both take their batches from :func:`nascomp.data.pipeline.batches`."""

from nascomp.train.config import RunConfig
from nascomp.train.loop import FitResult, TrainConfig, TrainingDiverged, TrainingInterrupted, evaluate, fit
from nascomp.train.outputs import TrainSummary
from nascomp.train.run import train_spec

__all__ = ["FitResult", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit", "RunConfig",
           "TrainSummary", "train_spec"]
