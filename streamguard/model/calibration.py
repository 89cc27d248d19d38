"""Calibrated P(fake): Platt scaling of the uncalibrated fake logit, fitted on validation data.

The paper's score, softmax of the two mean activations, is confined to about [0.27, 0.73]; thresholds and
rolling windows downstream need a probability that means what it says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True, slots=True)
class Calibration:
    """``P(fake) = sigmoid(scale * logit + bias)``; identity (scale 1, bias 0) is the paper's softmax.

    Attributes:
        scale: Multiplies the logit (1 / temperature).
        bias: Added after scaling.
        method: `none` (identity) or `platt`.
        n_samples: How many validation samples the fit used.
    """

    scale: float = 1.0
    bias: float = 0.0
    method: str = "none"
    n_samples: int = 0

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Return calibrated P(fake) for uncalibrated fake logits."""
        return torch.sigmoid(logits * self.scale + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of `to_dict`."""
        return cls(**data)


# The activations live in [0, ~1], so a useful scale is far below this bound. Without it, nearly constant
# validation logits (an undertrained model) drive the fit to scales of 1e6 that turn float rounding into
# probability.
MAX_SCALE = 1000.0


def fit_platt(logits: np.ndarray, is_fake: np.ndarray, max_iter: int = 200, *, balanced: bool = False) -> Calibration:
    """Fit scale and bias by minimising the log-loss of `is_fake` (1 fake, 0 real) given the logits.

    With ``balanced``, each class weighs half of the loss whatever its count, so P(fake) assumes equal priors
    rather than the calibration set's mix (a validation set of mostly fakes would otherwise push every score,
    real faces' too, towards fake).

    Uses Platt's smoothed targets, ``(N+ + 1) / (N+ + 2)`` for fakes and ``1 / (N- + 2)`` for reals, which
    keep the fit finite when the validation scores separate the classes perfectly; the scale is kept in
    (0, `MAX_SCALE`).

    Raises:
        ValueError: Without both classes present.
    """
    labels = np.asarray(is_fake, dtype=np.float64)
    if labels.min() == labels.max():
        raise ValueError("calibration needs both real and fake validation samples")
    n_fake, n_real = labels.sum(), len(labels) - labels.sum()
    y = torch.as_tensor(np.where(labels > 0.5, (n_fake + 1) / (n_fake + 2), 1 / (n_real + 2)))
    weight = torch.ones_like(y)
    if balanced:
        weight = torch.as_tensor(np.where(labels > 0.5, len(labels) / (2 * n_fake), len(labels) / (2 * n_real)))
    x = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    initial_scale = min(1.0 / max(float(x.std()), 1e-6), MAX_SCALE / 2)
    initial_u = float(np.log(initial_scale / (MAX_SCALE - initial_scale)))  # inverse of the sigmoid below
    params = torch.tensor([initial_u, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        scale = MAX_SCALE * torch.sigmoid(params[0])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x * scale + params[1], y, weight=weight)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    scale = float(MAX_SCALE * torch.sigmoid(params[0].detach()))
    return Calibration(scale=scale, bias=float(params[1].detach()), method="platt", n_samples=len(labels))
