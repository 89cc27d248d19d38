"""The batch function behind the micro-batcher: face crops in, `Score`s out, via `Detector.predict`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch

from streamguard.model.detector import Detector
from streamguard.types import FaceCrop, Score

logger = logging.getLogger(__name__)


class InferenceEngine(Protocol):
    """What the daemon needs from a detector backend: the micro-batcher's batch function and its facts."""

    @property
    def version(self) -> str:
        """The model version stamped on every `Score`."""
        ...

    @property
    def input_size(self) -> int:
        """Side of the square crops the model takes."""
        ...

    def check(self, face: FaceCrop) -> None:
        """Raise `ValueError` when a crop cannot be scored."""
        ...

    def process(self, faces: Sequence[FaceCrop]) -> list[Score]:
        """Score a batch, one `Score` per face in order."""
        ...


class DetectorEngine:
    """Scores batches of `FaceCrop`s with one `Detector`; meant to run in the batcher's single worker thread.

    Use `process` as the `MicroBatcher` batch function. The detector is not thread-safe, so one engine must
    only be called from one thread at a time (the batcher's default executor guarantees that).

    Args:
        detector: A loaded detector; its `input_size` fixes the crop side the engine accepts.
        mask_min_p: Decode masks only for faces scoring at least this (others get an all-zero mask). Masks are
            published only for an alert's peak face, whose score is above the alert's off threshold, so the
            daemon passes that threshold and skips the mask decoder (most of the network) for real faces.
    """

    def __init__(self, detector: Detector, mask_min_p: float | None = None) -> None:
        self.detector = detector
        self.mask_min_p = mask_min_p

    @property
    def version(self) -> str:
        """The detector version stamped on every `Score` (`Score.model_version`)."""
        return self.detector.version

    @property
    def input_size(self) -> int:
        """Side of the square crops the detector expects."""
        return self.detector.input_size

    def check(self, face: FaceCrop) -> None:
        """Raise `ValueError` when `face.pixels` cannot be scored; call before submitting to a shared batch.

        A malformed crop inside a batch fails the whole batch, including other streams' faces.
        """
        check_crop(face, self.input_size)

    def process(self, faces: Sequence[FaceCrop]) -> list[Score]:
        """Score a batch of face crops, one `Score` per face in the same order.

        Raises:
            ValueError: A crop has the wrong shape or dtype.
            torch.cuda.OutOfMemoryError: The batch does not fit on the GPU (the cache is emptied first, so the
                batcher can retry with smaller batches).
        """
        if not faces:
            return []
        for face in faces:
            self.check(face)
        crops = np.stack([face.pixels for face in faces])
        try:
            result = self.detector.infer(crops, mask_min_p=self.mask_min_p)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise
        attributes = result.attribute_p
        return [
            Score(
                face=face,
                value=float(result.p_fake[i]),
                mask=own_mask(result.masks[i]),
                model_version=self.version,
                attribute_p=None if attributes is None else tuple(float(p) for p in attributes[i]),
            )
            for i, face in enumerate(faces)
        ]

    def warmup(self, batch_size: int = 1) -> None:
        """Run one batch of black crops so the first real batch does not pay for lazy initialisation."""
        size = self.input_size
        self.detector.predict(np.zeros((batch_size, size, size, 3), dtype=np.uint8))


def check_crop(face: FaceCrop, size: int) -> None:
    """Raise `ValueError` unless `face.pixels` is a `(size, size, 3)` uint8 crop."""
    pixels = face.pixels
    if pixels.shape != (size, size, 3) or pixels.dtype != np.uint8:
        raise ValueError(
            f"stream {face.stream_id} track {face.track_id}: expected a ({size}, {size}, 3) uint8 crop, "
            f"got {pixels.shape} {pixels.dtype}"
        )


def own_mask(mask: np.ndarray) -> npt.NDArray[np.float32]:
    """A float32 copy of one face's mask, so a kept peak `Score` does not pin the whole batch's mask array."""
    return np.array(mask, dtype=np.float32, copy=True)


def available_cpus() -> int:
    """CPUs this process may use: its CPU affinity, further capped by a cgroup v2 CPU quota if one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, cpus)


def _cgroup_cpu_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, int(int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def configure_torch_threads(n: int | None) -> int:
    """Set torch's CPU thread pools for a single inference thread and return the intra-op thread count.

    Intra-op threads (the ones a convolution uses) are set to `n`, or when `n` is ``None`` to
    `available_cpus`: torch's own default counts the machine's cores, ignoring CPU affinity and container
    quotas, and oversubscribed threads are much slower. Inter-op threads are set to 1: the model runs one call at a
    time from one worker thread and never uses inter-op parallelism. Torch only accepts the inter-op setting
    before its first parallel work; later calls keep the existing value.

    Raises:
        ValueError: `n` is smaller than 1.
    """
    if n is not None and n < 1:
        raise ValueError(f"torch thread count must be >= 1, got {n}")
    threads = n if n is not None else available_cpus()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        logger.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())
    return torch.get_num_threads()
