"""Multiply-add count of a network at a given input size, from forward hooks on its convolutions."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def count_macs(model: nn.Module, input_size: int = 256) -> int:
    """Multiply-adds of one inference pass on a `(1, 3, input_size, input_size)` input.

    Convolutions and transposed convolutions are counted (they are all but a fraction of a percent of the
    work); batch norm, activations and the latent selection are not.
    """
    total = 0

    def conv_hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d | nn.ConvTranspose2d)  # noqa: S101 (hooks are registered on these)
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        if isinstance(module, nn.ConvTranspose2d):
            # Every input element is scattered to kernel x out_channels outputs.
            total += inputs[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
        else:
            total += output.numel() * kernel

    handles: list[Any] = [
        m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
