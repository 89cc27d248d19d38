"""Self-describing checkpoints: weights plus everything needed to use and trust them.

A checkpoint is a `torch.save` dict of plain types (loadable with ``weights_only=True``)::

    format, format_version, variant, input_size, normalization {mean, std}, calibration {...},
    attribute_head (bool; absent in older files: False), training {data summary, recipe}, metrics {...},
    code_version, created_at, state_dict
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import streamguard
from streamguard.errors import CheckpointError
from streamguard.model.calibration import Calibration
from streamguard.model.factory import DetectorNetwork, build_network
from streamguard.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from streamguard.model.variants import VARIANTS, get_variant

FORMAT = "streamguard-yae"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything in a checkpoint except the weights.

    Attributes:
        variant: Name of the Table-2 variant.
        input_size: Side of the square input crop in pixels.
        normalization: `{"mean": [...], "std": [...]}` applied to RGB in [0, 1].
        calibration: P(fake) calibration fitted on validation data.
        training: Data summary and recipe (free-form, JSON-serialisable).
        metrics: Validation metrics (free-form, JSON-serialisable).
        code_version: streamguard version and git commit that wrote the file.
        created_at: ISO-8601 UTC time of writing.
        attribute_head: Whether the network has the SOML attribute head (`streamguard.types.ATTRIBUTES`).
    """

    variant: str
    input_size: int = 256
    normalization: dict[str, list[float]] = field(
        default_factory=lambda: {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    )
    calibration: Calibration = field(default_factory=Calibration)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""
    created_at: str = ""
    attribute_head: bool = False


def code_version() -> str:
    """``<package version>+<git commit>`` when run from a git checkout, else the package version."""
    root = Path(streamguard.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(  # noqa: S603 (fixed argv, no user input)
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return streamguard.__version__
    return f"{streamguard.__version__}+g{commit}" if commit else streamguard.__version__


def save_checkpoint(path: Path, model: DetectorNetwork, meta: CheckpointMeta) -> None:
    """Write atomically (temporary file + rename) so a crash never leaves half a checkpoint."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": meta.variant,
        "input_size": meta.input_size,
        "normalization": meta.normalization,
        "calibration": meta.calibration.to_dict(),
        "attribute_head": meta.attribute_head,
        "training": meta.training,
        "metrics": meta.metrics,
        "code_version": meta.code_version or code_version(),
        "created_at": meta.created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read the raw payload, checking that it is a streamguard checkpoint of a known format version."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: no such checkpoint") from e
    except Exception as e:  # corrupt files raise RuntimeError, UnpicklingError, EOFError, KeyError, struct.error...
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a streamguard checkpoint (missing format={FORMAT!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')} is not supported "
            f"(this streamguard reads version {FORMAT_VERSION})"
        )
    return payload


REQUIRED_KEYS = ("variant", "input_size", "normalization", "calibration", "state_dict")


def meta_from_payload(path: Path, payload: dict[str, Any]) -> CheckpointMeta:
    """Build a `CheckpointMeta` from a raw payload, validating the variant name and required fields."""
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks required field(s) {', '.join(missing)}")
    variant = payload["variant"]
    if variant not in VARIANTS:
        raise CheckpointError(f"{path}: unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    try:
        return CheckpointMeta(
            variant=str(variant),
            input_size=int(payload["input_size"]),
            normalization={
                "mean": list(payload["normalization"]["mean"]),
                "std": list(payload["normalization"]["std"]),
            },
            calibration=Calibration.from_dict(payload["calibration"]),
            training=payload.get("training", {}),
            metrics=payload.get("metrics", {}),
            code_version=str(payload.get("code_version", "")),
            created_at=str(payload.get("created_at", "")),
            attribute_head=_flag(payload.get("attribute_head", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: malformed checkpoint metadata ({type(e).__name__}: {e})") from e


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"attribute_head must be a boolean, got {value!r}")
    return value


def load_checkpoint(path: Path, expected_variant: str | None = None) -> tuple[DetectorNetwork, CheckpointMeta]:
    """Rebuild the network a checkpoint describes and load its weights (on the CPU, in eval mode).

    Args:
        path: The checkpoint file.
        expected_variant: When given, a checkpoint of another variant is an error.

    Raises:
        CheckpointError: The file is unreadable, or its weights do not fit the architecture it declares.
    """
    payload = read_checkpoint(path)
    meta = meta_from_payload(path, payload)
    if expected_variant is not None and meta.variant != expected_variant:
        raise CheckpointError(f"{path}: holds variant {meta.variant!r}, expected {expected_variant!r}")
    # pretrained=False: the checkpoint holds every weight.
    model = build_network(get_variant(meta.variant), pretrained=False, attribute_head=meta.attribute_head)
    _load_weights(path, model, payload["state_dict"], meta.variant)
    model.eval()
    return model, meta


def _load_weights(path: Path, model: DetectorNetwork, state: dict[str, torch.Tensor], variant: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            f"{label}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
            if items
        )
        raise CheckpointError(f"{path}: weights do not match the {variant!r} architecture ({details})")
    model.load_state_dict(state)
