"""Inference settings: the detector checkpoint, the device, and the shared micro-batcher."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from streamguard.config.base import StrictModel

Precision = Literal["auto", "fp32", "fp16", "bf16"]

DEFAULT_MODEL_PATH = Path("models/streamguard-v2.pt")

# Defaults chosen by measurement (see the README); the batcher flushes at whichever comes first.
CPU_DEFAULT_MAX_BATCH = 8
GPU_DEFAULT_MAX_BATCH = 64
CPU_DEFAULT_MAX_DELAY_MS = 10.0
GPU_DEFAULT_MAX_DELAY_MS = 20.0

DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:\d{1,2})$"


class InferenceConfig(StrictModel):
    """The detector model and how face crops from all streams are batched through it."""

    model: Path = Field(
        default=DEFAULT_MODEL_PATH,
        description="Detector checkpoint (.pt); a relative path is taken from the working directory.",
    )
    device: str = Field(
        default="auto",
        pattern=DEVICE_PATTERN,
        description="`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`.",
    )
    max_batch: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            f"Most face crops per model call; omitted: {CPU_DEFAULT_MAX_BATCH} on CPU, {GPU_DEFAULT_MAX_BATCH} on GPU."
        ),
    )
    max_delay_ms: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description=(
            "Longest wait, in milliseconds after the first crop, before a partial batch runs; "
            f"omitted: {CPU_DEFAULT_MAX_DELAY_MS:g} on CPU, {GPU_DEFAULT_MAX_DELAY_MS:g} on GPU."
        ),
    )
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Threads torch may use on CPU (torch.set_num_threads); omitted: torch's default.",
    )
    precision: Precision = Field(
        default="auto",
        description="`auto` (fp16 on CUDA, fp32 on CPU), `fp32`, `fp16` (CUDA only) or `bf16`.",
    )

    @field_validator("model")
    @classmethod
    def _expand_model_path(cls, path: Path) -> Path:
        return path.expanduser()

    @field_validator("precision")
    @classmethod
    def _check_precision_fits_device(cls, precision: Precision, info: ValidationInfo) -> Precision:
        if precision == "fp16" and info.data.get("device") == "cpu":
            raise ValueError("`fp16` needs a CUDA device; use `fp32` or `bf16` with `device: cpu`")
        return precision

    def resolved_max_batch(self, device_is_cuda: bool) -> int:
        """Return `max_batch`, or the measured default for the device when it is not set.

        Args:
            device_is_cuda: Whether the model runs on a CUDA device.
        """
        if self.max_batch is not None:
            return self.max_batch
        return GPU_DEFAULT_MAX_BATCH if device_is_cuda else CPU_DEFAULT_MAX_BATCH

    def resolved_max_delay_s(self, device_is_cuda: bool) -> float:
        """Return `max_delay_ms` in seconds, or the measured default for the device when it is not set.

        Args:
            device_is_cuda: Whether the model runs on a CUDA device.
        """
        if self.max_delay_ms is not None:
            return self.max_delay_ms / 1000.0
        return (GPU_DEFAULT_MAX_DELAY_MS if device_is_cuda else CPU_DEFAULT_MAX_DELAY_MS) / 1000.0
