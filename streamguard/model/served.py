"""The interface of the exported detector graph, shared by the exporters and the remote-inference client.

``images`` `(N, S, S, 3)` uint8 RGB in; ``p_fake`` `(N,)` calibrated P(fake) and ``mask`` `(N, S, S)` out.
A Triton repository carries the checkpoint's version string in its ``config.pbtxt`` parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INPUT_NAME = "images"
SCORE_OUTPUT = "p_fake"
MASK_OUTPUT = "mask"
VERSION_PARAMETER = "streamguard_model_version"


@dataclass(frozen=True, slots=True)
class ServedGraphs:
    """The two ONNX graphs a compiled backend runs: scores only (every face), and scores with masks (gated faces).

    Attributes:
        scores: ``images`` → ``p_fake``.
        full: ``images`` → ``p_fake``, ``mask``.
    """

    scores: Path
    full: Path
