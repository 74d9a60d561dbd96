"""The proxy training loop a search trial runs: a short schedule, validation accuracy after every epoch."""

from nascomp.train.loop import FitResult, TrainConfig, TrainingDiverged, TrainingInterrupted, evaluate, fit

__all__ = ["FitResult", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit"]
