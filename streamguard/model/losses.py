"""Training losses of the Y-shaped autoencoder, with the reference code's defects fixed.

* segmentation cross-entropy is computed on logits (the reference applied it to softmax outputs — a double
  softmax with a loss floor of about 0.31);
* the reconstruction target is the crop scaled to [-1, 1], the range of the tanh output (the reference
  compared tanh with an ImageNet-normalised target whose range exceeds [-1, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from streamguard.model.network import FAKE, REAL, ResidualFilter, YNetOutput
from streamguard.model.variants import VariantSpec


@dataclass(frozen=True)
class LossBreakdown:
    """The weighted total and its unweighted parts (a part is zero when the variant lacks its branch)."""

    total: Tensor
    activation: Tensor
    segmentation: Tensor
    reconstruction: Tensor
    linear: Tensor | None = None
    attribute: Tensor | None = None


def activation_loss(activations: Tensor, is_real: Tensor) -> Tensor:
    """Paper eq.: mean over the batch of ``|a_real - y| + |a_fake - (1 - y)|`` with y = 1 for real."""
    y = is_real.to(activations.dtype)
    return ((activations[:, REAL] - y).abs() + (activations[:, FAKE] - (1 - y)).abs()).mean()


def segmentation_loss(seg_logits: Tensor, masks: Tensor, has_mask: Tensor | None = None) -> Tensor:
    """Per-pixel cross-entropy of `(N, 2, H, W)` logits against `(N, H, W)` masks binarised at 0.5.

    Args:
        seg_logits: Segmentation logits (no softmax applied).
        masks: Ground truth in [0, 1]; all zeros for real faces.
        has_mask: `(N,)` bool; items without a ground-truth mask (a fake from a set without masks) are left
            out of the mean. None means every item has one.
    """
    per_pixel = F.cross_entropy(seg_logits, (masks >= 0.5).long(), reduction="none")
    if has_mask is None:
        return per_pixel.mean()
    per_item = per_pixel.flatten(1).mean(1)
    weights = has_mask.to(per_item.dtype)
    return (per_item * weights).sum() / weights.sum().clamp(min=1.0)


ATTRIBUTE_WEIGHT = 0.5
"""Weight of the attribute head's cross-entropy in the total loss (an auxiliary task: half the classifier's)."""


def attribute_loss(attribute_logits: Tensor, attribute: Tensor) -> Tensor:
    """Cross-entropy of `(N, 3)` attribute logits over the rows labelled with an attribute (label >= 0).

    Reals and fakes of an unknown method carry -1 and are left out; a batch without any label gives 0 (with a
    gradient path, so that every step backpropagates through the same graph).
    """
    labelled = attribute >= 0
    if not bool(labelled.any()):
        return attribute_logits.sum() * 0.0
    return F.cross_entropy(attribute_logits[labelled].float(), attribute[labelled])


def reconstruction_target(images01: Tensor, spec: VariantSpec, size: tuple[int, int] | None = None) -> Tensor:
    """What the reconstruction branch should output for `(N, 3, H, W)` crops in [0, 1], in [-1, 1].

    `size` (h, w) area-downsamples the target to a decoder that rebuilds the crop at a lower resolution.
    """
    target = images01 * 2.0 - 1.0
    if size is not None and tuple(target.shape[2:]) != size:
        target = F.interpolate(target, size=size, mode="area")
    if spec.input_kind == "residual":
        target = ResidualFilter().to(images01.device)(target).clamp(-1.0, 1.0)
    return target


def reconstruction_loss(reconstruction: Tensor, target: Tensor, kind: str) -> Tensor:
    """L1 or L2 (mean squared) distance between the tanh output and its target."""
    if kind == "l1":
        return F.l1_loss(reconstruction, target)
    return F.mse_loss(reconstruction, target)


def total_loss(
    output: YNetOutput,
    spec: VariantSpec,
    is_real: Tensor,
    masks: Tensor,
    images01: Tensor,
    has_mask: Tensor | None = None,
    attribute: Tensor | None = None,
) -> LossBreakdown:
    """Weighted sum ``L_act + w_seg L_seg + w_rec L_rec`` for one batch (Table 2 weights).

    A network with a linear head adds its binary cross-entropy (weight 1), so both classifiers learn in one run;
    one with an attribute head adds `attribute_loss` on the `attribute` labels (`ATTRIBUTE_WEIGHT`).
    """
    zero = torch.zeros((), device=images01.device)
    act = activation_loss(output.activations, is_real)
    seg = segmentation_loss(output.seg_logits, masks, has_mask) if output.seg_logits is not None else zero
    rec = zero
    if output.reconstruction is not None:
        height, width = output.reconstruction.shape[2:]
        target = reconstruction_target(images01, spec, (height, width))
        rec = reconstruction_loss(output.reconstruction, target, spec.rec_loss)
    total = act + spec.seg_weight * seg + spec.rec_weight * rec
    linear = None
    if output.linear_logit is not None:
        linear = F.binary_cross_entropy_with_logits(output.linear_logit.float(), 1.0 - is_real.float())
        total = total + linear
        linear = linear.detach()
    attr = None
    if output.attribute_logits is not None and attribute is not None:
        attr = attribute_loss(output.attribute_logits, attribute)
        total = total + ATTRIBUTE_WEIGHT * attr
        attr = attr.detach()
    return LossBreakdown(total, act.detach(), seg.detach(), rec.detach(), linear, attr)
