"""The detector: the Y-shaped autoencoder, its variants, losses, calibration, checkpoints and inference API.

No stream I/O lives here.
"""

from __future__ import annotations

from streamguard.model.calibration import Calibration, fit_platt
from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from streamguard.model.detector import Detector, Prediction
from streamguard.model.network import YNetOutput, YShapedAutoencoder, count_parameters
from streamguard.model.variants import DEFAULT_VARIANT, VARIANTS, VariantSpec, get_variant

__all__ = [
    "DEFAULT_VARIANT",
    "VARIANTS",
    "Calibration",
    "CheckpointMeta",
    "Detector",
    "Prediction",
    "VariantSpec",
    "YNetOutput",
    "YShapedAutoencoder",
    "count_parameters",
    "fit_platt",
    "get_variant",
    "load_checkpoint",
    "save_checkpoint",
]
