"""Inference shared by all streams: a micro-batcher (size-or-deadline flush) and the detector batch function."""

from __future__ import annotations

from streamguard.inference.batcher import BatcherClosedError, BatchSizeMismatchError, MicroBatcher, is_out_of_memory
from streamguard.inference.engine import DetectorEngine, available_cpus, configure_torch_threads

__all__ = [
    "BatchSizeMismatchError",
    "BatcherClosedError",
    "DetectorEngine",
    "MicroBatcher",
    "available_cpus",
    "configure_torch_threads",
    "is_out_of_memory",
]
