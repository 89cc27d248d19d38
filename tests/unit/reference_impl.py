"""Independent numpy reference implementations the unit tests compare the package against."""

from __future__ import annotations

import numpy as np


def numpy_binomial_residual(x: np.ndarray) -> np.ndarray:
    """Reference ``x - blur(x)`` for `(N, C, H, W)`, binomial 3x3 blur, edge (replicate) padding."""
    k = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = x.shape[2:]
    blurred = np.zeros_like(x, dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            blurred += k[dy, dx] * padded[:, :, dy : dy + h, dx : dx + w]
    return x - blurred
