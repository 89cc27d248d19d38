"""The Y-shaped autoencoder on a pretrained EfficientNet-Lite encoder (beyond the paper; detector v2).

The paper's design is kept: the deepest features are projected (1x1 conv) to a latent split into a fake half
and a real half, the more active half is the class, and the other half is zeroed before decoding. The mask
decoder is U-Net-like: the gated latent is up-sampled stage by stage and fused with the encoder's stride-16,
-8 and -4 features, ending at a quarter of the input and resized to it. The reconstruction decoder sees only
the gated latent (a skip would make reconstruction trivial) and rebuilds the crop at a quarter of its size;
it is a training signal only. Beside the latent, a linear layer on the pooled deepest features gives a second
fake logit, trained with cross-entropy; the variant's ``classifier`` says which one scores (both are trained
in every run, so one run reports both). An optional attribute head on the same pooled features says which SOML
attribute a fake changed (identity, expression, physical).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from streamguard.model.backbones import EfficientNetLiteEncoder
from streamguard.model.network import N_ATTRIBUTES, Encoding, YNetOutput, half_activations, select_half
from streamguard.model.variants import VariantSpec

LATENT_HALF = 64
DECODER_WIDTHS = (96, 64, 32)
"""Channels after fusing the stride-16, -8 and -4 encoder features."""
REC_WIDTHS = (64, 32, 16)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _UpFuse(nn.Module):
    """Double the resolution, concatenate a skip (when given), then one 3x3 conv block."""

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.block = _conv_bn_relu(cin + skip, cout)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        out: Tensor = self.block(x)
        return out


class EffNetYNet(nn.Module):
    """Detector network of a ``pretrained``-depth `VariantSpec`; same interface as `YShapedAutoencoder`."""

    def __init__(self, spec: VariantSpec, pretrained: bool = True, attribute_head: bool = False) -> None:
        super().__init__()
        if spec.backbone is None:
            raise ValueError(f"variant {spec.name!r} has no backbone")
        self.spec = spec
        self.encoder = EfficientNetLiteEncoder(spec.backbone, spec.input_size, pretrained)
        _, c4, c8, c16, c32 = self.encoder.channels
        self.to_latent = nn.Conv2d(c32, 2 * LATENT_HALF, 1)
        self.linear = nn.Linear(c32, 1)
        self.attribute_head = nn.Linear(c32, N_ATTRIBUTES) if attribute_head else None
        w16, w8, w4 = DECODER_WIDTHS
        self.seg_up = nn.ModuleList([_UpFuse(2 * LATENT_HALF, c16, w16), _UpFuse(w16, c8, w8), _UpFuse(w8, c4, w4)])
        self.seg_head = nn.Conv2d(w4, 2, 1)
        r16, r8, r4 = REC_WIDTHS
        self.rec_up = nn.ModuleList([_UpFuse(2 * LATENT_HALF, 0, r16), _UpFuse(r16, 0, r8), _UpFuse(r8, 0, r4)])
        self.rec_head = nn.Conv2d(r4, 3, 1)

    @property
    def has_masks(self) -> bool:
        """Every EfficientNet variant has the mask decoder."""
        return True

    def features(self, x: Tensor) -> Encoding:
        """Latent `(N, 128, S/32, S/32)`, the skips for the mask decoder and the linear head's fake logit."""
        *_, f4, f8, f16, f32 = self.encoder(x)
        pooled = f32.mean(dim=(2, 3))
        linear_logit = self.linear(pooled)[:, 0]
        attribute_logits = None if self.attribute_head is None else self.attribute_head(pooled)
        latent = self.to_latent(f32)
        return Encoding(
            latent=latent,
            input_hw=(x.shape[2], x.shape[3]),
            skips=(f16, f8, f4),
            linear_logit=linear_logit,
            attribute_logits=attribute_logits,
        )

    def fake_logit(self, encoding: Encoding) -> Tensor:
        """The uncalibrated fake logit of the variant's classifier."""
        if self.spec.classifier == "linear":
            assert encoding.linear_logit is not None  # noqa: S101 (always set by `encode`)
            return encoding.linear_logit
        activations = half_activations(encoding.latent)
        return activations[:, 0] - activations[:, 1]

    def decode_mask(self, encoding: Encoding, selected: Tensor) -> Tensor:
        """Segmentation logits `(N, 2, S, S)` from the `selected` latent half and the encoder skips."""
        x = select_half(encoding.latent, selected)
        for up, skip in zip(self.seg_up, encoding.skips, strict=True):
            x = up(x, skip)
        logits: Tensor = self.seg_head(x)
        return F.interpolate(logits, size=encoding.input_hw, mode="bilinear", align_corners=False)

    def reconstruct(self, encoding: Encoding, selected: Tensor) -> Tensor:
        """The crop rebuilt from the `selected` latent half alone, `(N, 3, S/4, S/4)` in [-1, 1]."""
        x = select_half(encoding.latent, selected)
        for up in self.rec_up:
            x = up(x, None)
        return torch.tanh(self.rec_head(x))

    def forward(self, x: Tensor, true_class: Tensor | None = None) -> YNetOutput:
        """Run the network; `true_class` selects the decoded half in training, None the predicted one."""
        encoding = self.features(x)
        activations = half_activations(encoding.latent)
        if self.spec.classifier == "linear":
            assert encoding.linear_logit is not None  # noqa: S101 (always set by `encode`)
            predicted = (encoding.linear_logit < 0).long()  # 0 fake, 1 real
        else:
            predicted = activations.argmax(dim=1)
        selected = predicted if true_class is None else true_class.long()
        return YNetOutput(
            activations=activations,
            selected=selected,
            seg_logits=self.decode_mask(encoding, selected),
            reconstruction=self.reconstruct(encoding, selected),
            linear_logit=encoding.linear_logit,
            attribute_logits=encoding.attribute_logits,
        )
