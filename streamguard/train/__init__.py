"""Training and fine-tuning of the detector."""

from __future__ import annotations

from streamguard.train.data import CropDataset, CropSet
from streamguard.train.loop import FitResult, JsonlLog, TrainConfig, fit, validate
from streamguard.train.pipeline import DataOptions, finetune_model, load_crop_set, train_model

__all__ = [
    "CropDataset",
    "CropSet",
    "DataOptions",
    "FitResult",
    "JsonlLog",
    "TrainConfig",
    "finetune_model",
    "fit",
    "load_crop_set",
    "train_model",
    "validate",
]
