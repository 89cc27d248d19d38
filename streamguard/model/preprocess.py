"""Pixel conventions shared by training, inference and export: uint8 RGB crops in, normalised tensors out."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def crops_to_tensor(crops: np.ndarray) -> Tensor:
    """Turn `(N, H, W, 3)` uint8 RGB crops into a `(N, 3, H, W)` float tensor in [0, 1].

    Raises:
        ValueError: When the array is not a batch of uint8 RGB images.
    """
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB crops, got {crops.shape} {crops.dtype}")
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)


def normalize(
    images01: Tensor, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> Tensor:
    """ImageNet-normalise a `(N, 3, H, W)` batch in [0, 1]."""
    m = torch.tensor(mean, dtype=images01.dtype, device=images01.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=images01.dtype, device=images01.device).view(1, 3, 1, 1)
    return (images01 - m) / s
