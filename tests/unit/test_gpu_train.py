from __future__ import annotations

import pytest
from torch import nn

from streamguard.model.backbones import EfficientNetLiteEncoder
from streamguard.model.factory import build_network
from streamguard.model.variants import get_variant
from tools.gpu_train import _freeze_early_stages


def _trainable(module: nn.Module) -> bool:
    return all(p.requires_grad for p in module.parameters())


def test_freezing_stages_fixes_the_stem_and_those_stages_only() -> None:
    model = build_network(get_variant("effnet_lite0_linear"), pretrained=False)
    _freeze_early_stages(model, 2)
    encoder = model.encoder
    assert isinstance(encoder, EfficientNetLiteEncoder) and isinstance(model.linear, nn.Module)
    frozen_until = encoder.stage_ends[1]
    assert not _trainable(encoder.stem)
    assert not any(_trainable(block) for block in encoder.blocks[: frozen_until + 1])
    assert all(_trainable(block) for block in encoder.blocks[frozen_until + 1 :])
    assert _trainable(model.linear)


def test_freezing_needs_an_efficientnet_encoder() -> None:
    with pytest.raises(SystemExit, match="EfficientNet"):
        _freeze_early_stages(build_network(get_variant("proposed_new"), pretrained=False), 1)
