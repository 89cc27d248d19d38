"""The interface of the exported detector graph, shared by the exporters and the remote-inference client.

``images`` `(N, S, S, 3)` uint8 RGB in; ``p_fake`` `(N,)` calibrated P(fake) and ``mask`` `(N, S, S)` out.
A Triton repository carries the checkpoint's version string in its ``config.pbtxt`` parameters.
"""

from __future__ import annotations

INPUT_NAME = "images"
SCORE_OUTPUT = "p_fake"
MASK_OUTPUT = "mask"
VERSION_PARAMETER = "streamguard_model_version"
