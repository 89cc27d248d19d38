"""Inference settings: the detector checkpoint, the device, the shared micro-batcher, and a remote Triton tier."""

from __future__ import annotations

import enum
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


class InferenceBackend(enum.StrEnum):
    """Where the detector runs."""

    AUTO = "auto"
    """ONNX Runtime on the CPU (3x PyTorch's faces/s, same scores: docs/performance.md); PyTorch on a CUDA
    device, or for a checkpoint whose attribute head the exported graphs leave out."""
    TORCH = "torch"
    """In the daemon, with PyTorch (`inference.model`, `device`)."""
    ONNXRUNTIME = "onnxruntime"
    """In the daemon on the CPU, with ONNX Runtime on the checkpoint's exported graphs."""
    OPENVINO = "openvino"
    """In the daemon on the CPU, with OpenVINO on the checkpoint's exported graphs (`precision: bf16` allowed)."""
    TRITON = "triton"
    """On a Triton Inference Server (`inference.triton`), serving a `streamguard export --format triton` repository."""


class TritonConfig(StrictModel):
    """A Triton Inference Server that serves the detector to many daemons (KServe v2 over gRPC)."""

    url: str = Field(
        default="127.0.0.1:8001",
        min_length=3,
        description="HOST:PORT of Triton's gRPC endpoint (8001 by default).",
    )
    model_name: str = Field(
        default="streamguard", min_length=1, description="The model's name in the Triton repository."
    )
    timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="A request not answered within this fails its batch (counted)."
    )
    connect_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long the daemon's start waits for the model to be ready on the server.",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, le=60, description="After a failed request, batches fail at once for this long, then retry."
    )
    backoff_max_s: float = Field(
        default=10.0, gt=0, le=600, description="Longest wait between retries while the server stays unreachable."
    )


class InferenceConfig(StrictModel):
    """The detector model and how face crops from all streams are batched through it."""

    backend: InferenceBackend = Field(
        default=InferenceBackend.AUTO,
        description=(
            "`torch`, `onnxruntime` or `openvino` run the model in the daemon (the last two on the CPU, from "
            "graphs exported once into data_dir); `triton` sends batches to `inference.triton`; `auto`: "
            "onnxruntime on the CPU, torch on CUDA or for a checkpoint with the attribute head."
        ),
    )
    triton: TritonConfig = Field(default_factory=TritonConfig, description="The Triton server, with `backend: triton`.")

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
        description=(
            "Threads the model may use on the CPU (torch, ONNX Runtime, OpenVINO); omitted: the CPUs this "
            "process may use (affinity and cgroup quota)."
        ),
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
