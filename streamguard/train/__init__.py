"""Training and fine-tuning of the detector (`pipeline` holds the dataset-to-checkpoint glue)."""

from __future__ import annotations

from streamguard.train.data import CropDataset, CropSet
from streamguard.train.loop import FitResult, JsonlLog, TrainConfig, fit, validate

__all__ = [
    "CropDataset",
    "CropSet",
    "FitResult",
    "JsonlLog",
    "TrainConfig",
    "fit",
    "validate",
]
