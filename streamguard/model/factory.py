"""One constructor for every detector network: the paper's Y-net or the EfficientNet-Lite one, by variant."""

from __future__ import annotations

from streamguard.model.backbones import TF_LITE_MEAN, TF_LITE_STD
from streamguard.model.effnet import EffNetYNet
from streamguard.model.network import YShapedAutoencoder
from streamguard.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from streamguard.model.variants import VariantSpec

DetectorNetwork = YShapedAutoencoder | EffNetYNet


def build_network(spec: VariantSpec, *, pretrained: bool = True, attribute_head: bool = False) -> DetectorNetwork:
    """A fresh network of `spec`.

    `pretrained` loads ImageNet weights into a backbone; False before loading a checkpoint (it holds them all).
    `attribute_head` adds the SOML attribute classifier (identity / expression / physical).
    """
    if spec.pretrained:
        return EffNetYNet(spec, pretrained=pretrained, attribute_head=attribute_head)
    return YShapedAutoencoder(spec, attribute_head=attribute_head)


def normalization_of(spec: VariantSpec) -> dict[str, list[float]]:
    """The input normalisation `spec` is trained with, as stored in checkpoints."""
    mean, std = (TF_LITE_MEAN, TF_LITE_STD) if spec.normalization == "tf_lite" else (IMAGENET_MEAN, IMAGENET_STD)
    return {"mean": list(mean), "std": list(std)}
