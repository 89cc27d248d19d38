"""Exported graph: ``images`` `(N, S, S, 3)` uint8 RGB → ``p_fake`` `(N,)`, ``mask`` `(N, S, S)`.

The exported graph does exactly what `Detector.predict` does — uint8 to [0, 1], ImageNet normalisation, the
network with the predicted-class selection, Platt calibration, softmax of the mask logits — so a consumer
of the ONNX file needs nothing but the crops. The batch axis is dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from streamguard.model.checkpoint import CheckpointMeta, load_checkpoint
from streamguard.model.detector import Detector
from streamguard.model.factory import DetectorNetwork
from streamguard.model.network import classifier_logit
from streamguard.model.preprocess import normalize
from streamguard.model.served import INPUT_NAME, MASK_OUTPUT, SCORE_OUTPUT, ServedGraphs

ExportFormat = Literal["onnx", "torchscript"]


class ExportedDetector(nn.Module):
    """The network wrapped with pre-processing and calibration, for export."""

    def __init__(self, model: DetectorNetwork, meta: CheckpointMeta) -> None:
        super().__init__()
        self.model = model.eval()
        self.mean = tuple(meta.normalization["mean"])
        self.std = tuple(meta.normalization["std"])
        self.scale = float(meta.calibration.scale)
        self.bias = float(meta.calibration.bias)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Score `(N, S, S, 3)` uint8 crops; return calibrated P(fake) `(N,)` and the mask `(N, S, S)`."""
        x = normalize(images.permute(0, 3, 1, 2).float() / 255.0, self.mean, self.std)
        out = self.model(x)
        p_fake = torch.sigmoid(classifier_logit(out, self.model.spec.classifier) * self.scale + self.bias)
        if out.seg_logits is None:
            mask = torch.zeros_like(x[:, 0])
        else:
            mask = torch.softmax(out.seg_logits, dim=1)[:, 1]
        return p_fake, mask


class ExportedScorer(ExportedDetector):
    """The encoder and classifier only: calibrated P(fake) without decoding a mask (the common case's cost)."""

    def forward(self, images: Tensor) -> Tensor:  # type: ignore[override]
        """Score `(N, S, S, 3)` uint8 crops; return calibrated P(fake) `(N,)`."""
        x = normalize(images.permute(0, 3, 1, 2).float() / 255.0, self.mean, self.std)
        logit = self.model.fake_logit(self.model.features(x))
        return torch.sigmoid(logit * self.scale + self.bias)


def export_checkpoint(
    checkpoint: Path, out: Path, fmt: ExportFormat = "onnx", opset: int = 17, *, scores_only: bool = False
) -> Path:
    """Write `checkpoint` as an ONNX model (dynamic batch axis) or a TorchScript archive at `out`.

    With `scores_only`, the ONNX graph has the ``p_fake`` output alone (no mask decoder).
    """
    model, meta = load_checkpoint(checkpoint)
    wrapper = (ExportedScorer if scores_only else ExportedDetector)(model, meta).eval()
    outputs = [SCORE_OUTPUT] if scores_only else [SCORE_OUTPUT, MASK_OUTPUT]
    example = torch.zeros((2, meta.input_size, meta.input_size, 3), dtype=torch.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters warn about tracing details that do not apply here
        if fmt == "onnx":
            torch.onnx.export(
                wrapper, (example,), str(out), input_names=[INPUT_NAME], output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *outputs)},
                opset_version=opset, dynamo=False,
            )  # fmt: skip
        else:
            traced = torch.jit.trace(wrapper, (example,))  # type: ignore[no-untyped-call]
            traced.save(str(out))
    return out


def onnx_parity(checkpoint: Path, onnx_path: Path, crops: np.ndarray) -> dict[str, float]:
    """Max absolute difference between ONNX Runtime and PyTorch (`Detector`) on the same crops."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_p, onnx_mask = session.run(None, {INPUT_NAME: crops})
    torch_p, torch_mask = Detector.load(checkpoint, device="cpu").predict(crops)
    return {
        "max_abs_diff_p_fake": float(np.abs(onnx_p - torch_p).max()),
        "max_abs_diff_mask": float(np.abs(onnx_mask - torch_mask).max()),
        "n": len(crops),
    }


def export_graphs(checkpoint: Path, cache_dir: Path, version: str) -> ServedGraphs:
    """The scores-only and the full ONNX graphs of `checkpoint`, exported once per model `version` into `cache_dir`.

    What `inference.backend: onnxruntime` / `openvino` run. The folder is named after the version (file stem,
    variant and content digest), so a changed checkpoint is exported again and an unchanged one never is.
    """
    folder = cache_dir / version.replace(":", "_")
    graphs = ServedGraphs(scores=folder / "scores.onnx", full=folder / "full.onnx")
    for path, scores_only in ((graphs.scores, True), (graphs.full, False)):
        if not path.exists():
            partial = path.with_suffix(".partial.onnx")
            export_checkpoint(checkpoint, partial, "onnx", scores_only=scores_only)
            partial.replace(path)  # a crash mid-export never leaves a file that looks complete
    return graphs
