"""Locate the model files bundled with the repository (BlazeFace and face-mesh `.tflite` files).

The files live in ``models/`` at the repository root; the environment variable ``STREAMGUARD_MODELS_DIR``
points elsewhere (e.g. inside a container image where the package is installed without the repository).
"""

from __future__ import annotations

import os
from pathlib import Path

from streamguard.errors import ModelAssetError

MODELS_DIR_ENV = "STREAMGUARD_MODELS_DIR"
MEDIAPIPE_SUBDIR = "mediapipe"
_REPO_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def models_dir() -> Path:
    """Return the folder that holds the bundled model files.

    ``$STREAMGUARD_MODELS_DIR`` wins when set and non-empty; otherwise the repository's ``models/``.
    The folder is not checked for existence here: the functions that open a file report what is missing.
    """
    override = os.environ.get(MODELS_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return _REPO_MODELS_DIR


def mediapipe_model(name: str) -> Path:
    """Return the path of one bundled mediapipe model file, e.g. ``face_detection_short_range.tflite``.

    Args:
        name: The file name inside ``models/mediapipe/`` (no folders).

    Raises:
        ModelAssetError: When the file is missing or is not a regular file; the message says how to
            re-extract it from the mediapipe wheel.
    """
    if not name or Path(name).name != name:
        raise ModelAssetError(f"invalid model file name {name!r}: give a bare file name")
    path = models_dir() / MEDIAPIPE_SUBDIR / name
    if not path.is_file():
        recipe = _REPO_MODELS_DIR / MEDIAPIPE_SUBDIR
        raise ModelAssetError(
            f"model file {path} is missing. Re-extract the mediapipe models with "
            f"`bash {recipe / 'extract.sh'}` (see {recipe / 'README.md'}), "
            f"or set {MODELS_DIR_ENV} to a folder whose mediapipe/ sub-folder holds {name}."
        )
    return path
