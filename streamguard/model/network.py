"""The Y-shaped autoencoder: one encoder, a latent split into a fake half and a real half, two decoders.

Layer list of the reference implementation (``deeper``), all 3x3 kernels with padding 1::

    encoder  3→8 s1, 8→8 s2, 8→16 s1, 16→16 s2, 16→32 s1, 32→32 s2, 32→64 s1, 64→64 s2, 64→128 s1
             (each Conv → BatchNorm → ReLU; 256x256 input → latent 128x16x16)
    shared   128→64 s1, 64→64 s2, 64→32 s1, 32→32 s2                (ConvTranspose → BN → ReLU)
    seg      32→16 s1, 16→16 s2, 16→8 s1, 8→8 s2, 8→2   (logits; softmax gives the per-pixel mask)
    rec      32→16 s1, 16→16 s2, 16→8 s1, 8→8 s2, 8→3   (tanh)

Stride-2 transposed convolutions use ``output_padding=1`` so each doubles the resolution exactly. The first
64 latent channels are the *fake* half ``h0``, the last 64 the *real* half ``h1``; a half's activation is
the mean absolute value of its entries. Before decoding, the half of the other class is zeroed: by the true
label in training, by the predicted label (the more active half) otherwise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from streamguard.model.variants import VariantSpec

ModuleT = TypeVar("ModuleT", bound=nn.Module)
LATENT_CHANNELS = 128
N_ATTRIBUTES = 3  # len(streamguard.types.ATTRIBUTES)
FAKE, REAL = 0, 1  # index of each half in the latent and in the activation vector

# (in, out, stride) per layer; see the module docstring.
_DEEPER_ENCODER = [(3, 8, 1), (8, 8, 2), (8, 16, 1), (16, 16, 2), (16, 32, 1), (32, 32, 2), (32, 64, 1),
                   (64, 64, 2), (64, 128, 1)]  # fmt: skip
_DEEPER_SHARED = [(128, 64, 1), (64, 64, 2), (64, 32, 1), (32, 32, 2)]
_DEEPER_HEAD = [(32, 16, 1), (16, 16, 2), (16, 8, 1), (8, 8, 2)]
_SHALLOWER_ENCODER = [(3, 8, 2), (8, 16, 2), (16, 32, 2), (32, 64, 2), (64, 128, 1)]
_SHALLOWER_SHARED = [(128, 64, 2), (64, 32, 2)]
_SHALLOWER_HEAD = [(32, 16, 2), (16, 8, 2)]


@dataclass(frozen=True)
class YNetOutput:
    """What one forward pass produces.

    Attributes:
        activations: `(N, 2)` mean |h| of the fake half (column 0) and the real half (column 1).
        selected: `(N,)` class index whose half was decoded (0 fake, 1 real).
        seg_logits: `(N, 2, H, W)` per-pixel logits (channel 1 = manipulated), or None without that branch.
        reconstruction: `(N, 3, h, w)` in [-1, 1] (h, w = H, W, or a quarter of them for the EfficientNet
            variants), or None without that branch.
        linear_logit: `(N,)` fake logit of the linear head on pooled features (EfficientNet variants only).
        attribute_logits: `(N, 3)` logits of the attribute head (`streamguard.types.ATTRIBUTES` order), or None
            without one.
    """

    activations: Tensor
    selected: Tensor
    seg_logits: Tensor | None
    reconstruction: Tensor | None
    linear_logit: Tensor | None = None
    attribute_logits: Tensor | None = None

    def head(self, n: int) -> YNetOutput:
        """The first `n` rows of every output."""

        def rows(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[:n]

        return YNetOutput(
            activations=self.activations[:n], selected=self.selected[:n], seg_logits=rows(self.seg_logits),
            reconstruction=rows(self.reconstruction), linear_logit=rows(self.linear_logit),
            attribute_logits=rows(self.attribute_logits),
        )  # fmt: skip


@dataclass(frozen=True)
class Encoding:
    """What the encoder hands the classifier and the mask decoder, for every detector network.

    Attributes:
        latent: `(N, 128, h, w)` latent; the first half is the fake half, the second the real half.
        input_hw: Height and width of the input, the size of the decoded mask.
        skips: Encoder features the mask decoder fuses, deepest first (empty for the paper's networks).
        linear_logit: `(N,)` fake logit of a linear head on pooled features, when the network has one.
        attribute_logits: `(N, 3)` attribute head logits, when the network has one.
    """

    latent: Tensor
    input_hw: tuple[int, int]
    skips: tuple[Tensor, ...] = field(default=())
    linear_logit: Tensor | None = None
    attribute_logits: Tensor | None = None

    def select(self, index: Tensor) -> Encoding:
        """The rows picked by a boolean or integer `index`, channels-last (indexing drops the layout)."""

        def rows(t: Tensor) -> Tensor:
            return t[index].contiguous(memory_format=torch.channels_last)

        linear = None if self.linear_logit is None else self.linear_logit[index]
        attribute = None if self.attribute_logits is None else self.attribute_logits[index]
        return replace(
            self, latent=rows(self.latent), skips=tuple(rows(s) for s in self.skips), linear_logit=linear,
            attribute_logits=attribute,
        )  # fmt: skip


def _conv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _deconv(cin: int, cout: int, stride: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1)


def _deconv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(_deconv(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _head(layers: list[tuple[int, int, int]], out_channels: int) -> nn.Sequential:
    blocks = [_deconv_block(cin, cout, s) for cin, cout, s in layers]
    last_in = layers[-1][1]
    return nn.Sequential(*blocks, _deconv(last_in, out_channels, 1))


class ResidualFilter(nn.Module):
    """Fixed high-pass filter ``x - blur(x)`` with a 3x3 binomial blur, per channel (ForensicTransfer input)."""

    kernel: Tensor

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("kernel", kernel.expand(3, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Return the residual of `x` `(N, 3, H, W)`."""
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.kernel, groups=3)
        return x - blurred


class YShapedAutoencoder(nn.Module):
    """The detector network for one `VariantSpec`; input is an ImageNet-normalised `(N, 3, H, W)` batch."""

    def __init__(self, spec: VariantSpec, attribute_head: bool = False) -> None:
        super().__init__()
        self.spec = spec
        deeper = spec.depth == "deeper"
        encoder = _DEEPER_ENCODER if deeper else _SHALLOWER_ENCODER
        shared = _DEEPER_SHARED if deeper else _SHALLOWER_SHARED
        head = _DEEPER_HEAD if deeper else _SHALLOWER_HEAD
        self.residual = ResidualFilter() if spec.input_kind == "residual" else None
        self.encoder = nn.Sequential(*[_conv_block(cin, cout, s) for cin, cout, s in encoder])
        self.shared_decoder = nn.Sequential(*[_deconv_block(cin, cout, s) for cin, cout, s in shared])
        self.seg_head = _head(head, 2) if spec.has_seg else None
        self.rec_head = _head(head, 3) if spec.has_rec else None
        self.attribute_head = nn.Linear(LATENT_CHANNELS, N_ATTRIBUTES) if attribute_head else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reference initialisation: conv weights N(0, 0.02), zero biases, BN gamma N(0.5, 0.02), beta 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 0.5, 0.02)
                nn.init.zeros_(module.bias)

    def encode(self, x: Tensor) -> Tensor:
        """Return the latent `(N, 128, H/16, W/16)` of a normalised batch."""
        if self.residual is not None:
            x = self.residual(x)
        latent: Tensor = self.encoder(x)
        return latent

    @property
    def has_masks(self) -> bool:
        """Whether the variant has a segmentation branch."""
        return self.seg_head is not None

    def features(self, x: Tensor) -> Encoding:
        """The `Encoding` of a normalised batch (the latent alone: these networks have no skips)."""
        latent = self.encode(x)
        return Encoding(latent=latent, input_hw=(x.shape[2], x.shape[3]), attribute_logits=self._attributes(latent))

    def _attributes(self, latent: Tensor) -> Tensor | None:
        if self.attribute_head is None:
            return None
        logits: Tensor = self.attribute_head(latent.mean(dim=(2, 3)))
        return logits

    def fake_logit(self, encoding: Encoding) -> Tensor:
        """Uncalibrated fake logit ``a_fake - a_real`` of an encoding."""
        return fake_logit(half_activations(encoding.latent))

    def decode_mask(self, encoding: Encoding, selected: Tensor) -> Tensor | None:
        """Segmentation logits `(N, 2, H, W)` decoded from each latent's `selected` half (None: no mask branch).

        Inference needs only this; the reconstruction head is a training signal.
        """
        if self.seg_head is None:
            return None
        mask_logits: Tensor = self.seg_head(self.shared_decoder(select_half(encoding.latent, selected)))
        return mask_logits

    def forward(self, x: Tensor, true_class: Tensor | None = None) -> YNetOutput:
        """Run the network.

        Args:
            x: `(N, 3, H, W)` ImageNet-normalised crops, H and W multiples of 16.
            true_class: `(N,)` int class per item (0 fake, 1 real) to select the decoded half in training;
                None selects the predicted class (the more active half), as at inference and validation.
        """
        latent = self.encode(x)
        activations = half_activations(latent)
        selected = activations.argmax(dim=1) if true_class is None else true_class.long()
        seg_logits = reconstruction = None
        if self.seg_head is not None or self.rec_head is not None:
            features = self.shared_decoder(select_half(latent, selected))
            if self.seg_head is not None:
                seg_logits = self.seg_head(features)
            if self.rec_head is not None:
                reconstruction = torch.tanh(self.rec_head(features))
        return YNetOutput(activations, selected, seg_logits, reconstruction, attribute_logits=self._attributes(latent))


def half_activations(latent: Tensor) -> Tensor:
    """Mean absolute activation of the fake half (column 0) and real half (column 1): `(N, 2)`."""
    fake_half, real_half = latent.chunk(2, dim=1)
    return torch.stack([fake_half.abs().flatten(1).mean(1), real_half.abs().flatten(1).mean(1)], dim=1)


def select_half(latent: Tensor, selected: Tensor) -> Tensor:
    """Zero the half of the latent that does not belong to `selected` (0 fake, 1 real) per item."""
    half = latent.shape[1] // 2
    keep_fake = (selected == FAKE).to(latent.dtype).view(-1, 1, 1, 1)
    gate = torch.cat([keep_fake.expand(-1, half, 1, 1), (1 - keep_fake).expand(-1, half, 1, 1)], dim=1)
    return latent * gate


def fake_logit(activations: Tensor) -> Tensor:
    """Uncalibrated fake logit ``a_fake - a_real``; its sigmoid is the paper's softmax([a0, a1])[fake]."""
    return activations[:, FAKE] - activations[:, REAL]


def classifier_logit(output: YNetOutput, classifier: str) -> Tensor:
    """The uncalibrated fake logit of a forward pass.

    The linear head's for a ``linear`` classifier, else the latent halves' ``a_fake - a_real``.
    """
    if classifier == "linear" and output.linear_logit is not None:
        return output.linear_logit
    return fake_logit(output.activations)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


_NAMED_CONV_BN = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
"""The (conv, batch norm) attribute pairs of an EfficientNet MBConv block."""


def fuse_batchnorm(model: ModuleT) -> ModuleT:
    """Return an inference copy with every BatchNorm folded into the (transposed) convolution before it.

    Covers ``Sequential(conv, bn, ...)`` blocks and the named pairs of EfficientNet blocks. Same outputs in eval
    mode (to float rounding), about half the CPU time: batch norm over 256x256 maps is a quarter of the
    unfused forward pass.
    """
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, nn.Sequential) and len(module) >= 2 and isinstance(module[1], nn.BatchNorm2d):
            conv = module[0]
            assert isinstance(conv, nn.Conv2d | nn.ConvTranspose2d)  # noqa: S101 (blocks are built that way)
            module[0] = fuse_conv_bn_eval(conv, module[1], transpose=isinstance(conv, nn.ConvTranspose2d))
            module[1] = nn.Identity()
        for conv_name, bn_name in _NAMED_CONV_BN:
            named_conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(named_conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(named_conv, bn))
                setattr(module, bn_name, nn.Identity())
    return fused
