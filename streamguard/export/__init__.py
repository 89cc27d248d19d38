"""Export a checkpoint to ONNX or TorchScript with pre-processing and calibration folded in."""

from __future__ import annotations

from streamguard.export.exporter import ExportedDetector, export_checkpoint, onnx_parity

__all__ = ["ExportedDetector", "export_checkpoint", "onnx_parity"]
