"""The six detector variants of Nguyen et al. (BTAS 2019), Table 2, and our residual-input one, selectable by name.

Depth:
    * **deeper** — the reference layer list: nine 3x3 encoder convolutions (each down-sampling stage is a
      stride-1 conv followed by a stride-2 conv) and nine transposed-conv decoder layers per branch.
    * **shallower** — ForensicTransfer depth: every down/up-sampling stage has a single stride-2 conv, so the
      encoder has five convolutions (3→8→16→32→64 at stride 2, then 64→128 at stride 1) and each decoder
      five transposed convolutions (128→64→32→16→8 at stride 2, then 8→out at stride 1). Channel widths and
      the 128x16x16 latent at 256x256 input are the same as in the deeper net, so the two differ only in depth.

Input:
    * **image** — the ImageNet-normalised RGB crop.
    * **residual** (`ft_res`) — the high-pass residual of the normalised crop, ``x - blur(x)`` with a fixed
      3x3 binomial blur ``[1,2,1]ᵀ[1,2,1]/16`` applied per channel (replicate padding); its reconstruction
      target is the residual of the crop scaled to [-1, 1], clamped to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Depth = Literal["shallower", "deeper", "pretrained"]
InputKind = Literal["image", "residual"]
RecLoss = Literal["l1", "l2"]
Classifier = Literal["latent", "linear"]


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One row of the paper's Table 2.

    Attributes:
        name: The variant's name as used on the command line and in checkpoints.
        depth: `shallower` (ForensicTransfer depth) or `deeper` (the reference layer list).
        input_kind: `image` (normalised crop) or `residual` (high-pass residual of it).
        has_seg: Whether the segmentation decoder exists.
        has_rec: Whether the reconstruction decoder exists.
        seg_weight: Weight of the segmentation loss (ignored without a segmentation branch).
        rec_weight: Weight of the reconstruction loss (ignored without a reconstruction branch).
        rec_loss: `l1` or `l2` reconstruction loss.
        description: One line for `streamguard variants`.
        backbone: The pretrained encoder of a ``pretrained``-depth variant (a `streamguard.model.backbones` name),
            None for the paper's from-scratch networks.
        classifier: What decides the class: ``latent`` (the paper's more active latent half) or ``linear``
            (a linear layer on the pooled deepest features, trained with cross-entropy beside the latent).
        input_size: Crop side the variant is trained and run at.
        normalization: ``imagenet`` (mean/std) or ``tf_lite`` (``(x - 127) / 128``, the EfficientNet-Lite
            checkpoints' convention).
    """

    name: str
    depth: Depth
    input_kind: InputKind
    has_seg: bool
    has_rec: bool
    seg_weight: float
    rec_weight: float
    rec_loss: RecLoss
    description: str
    backbone: str | None = None
    classifier: Classifier = "latent"
    input_size: int = 256
    normalization: Literal["imagenet", "tf_lite"] = "imagenet"

    @property
    def pretrained(self) -> bool:
        """Whether the encoder starts from ImageNet weights (an EfficientNet-Lite backbone)."""
        return self.backbone is not None


_CLASSIFIER_WORDS = {"yae": "the more active latent half", "linear": "a linear head on pooled features"}

VARIANTS: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec(
            "ft_res", "shallower", "residual", False, True, 0.1, 0.1, "l1",
            "ForensicTransfer re-implementation on residual images; no segmentation branch",
        ),
        VariantSpec(
            "ft", "shallower", "image", False, True, 0.1, 0.1, "l1",
            "ForensicTransfer re-implementation on normal images; no segmentation branch",
        ),
        VariantSpec(
            "deeper_ft", "deeper", "image", False, True, 0.1, 0.1, "l1",
            "ForensicTransfer at the proposed depth; no segmentation branch",
        ),
        VariantSpec(
            "proposed_old", "deeper", "image", True, True, 0.1, 0.1, "l1",
            "full Y-shaped autoencoder with the old loss weights",
        ),
        VariantSpec(
            "no_recon", "deeper", "image", True, False, 1.0, 1.0, "l2",
            "Y-shaped autoencoder without the reconstruction branch",
        ),
        VariantSpec(
            "proposed_new", "deeper", "image", True, True, 1.0, 1.0, "l2",
            "the complete method (default)",
        ),
        VariantSpec(
            "proposed_res", "deeper", "residual", True, True, 1.0, 1.0, "l2",
            "beyond the paper: proposed_new on high-pass residual input (as ft_res); learns forgeries far faster",
        ),
        *(
            VariantSpec(
                f"effnet_{lite}_{head}", "pretrained", "image", True, True, 1.0, 0.1, "l2",
                f"beyond the paper: the Y-net on an ImageNet EfficientNet-{lite.capitalize()} encoder, U-Net mask "
                f"decoder; class by {_CLASSIFIER_WORDS[head]}",
                backbone=f"efficientnet-{lite}", classifier="latent" if head == "yae" else "linear",
                input_size=size, normalization="tf_lite",
            )
            for lite, size in (("lite0", 160), ("lite2", 192))
            for head in ("yae", "linear")
        ),
    )
}  # fmt: skip

DEFAULT_VARIANT = "proposed_new"


def get_variant(name: str) -> VariantSpec:
    """Return the spec of a variant by name.

    Args:
        name: One of `VARIANTS`.

    Raises:
        KeyError: With the list of valid names when `name` is unknown.
    """
    try:
        return VARIANTS[name]
    except KeyError as e:
        raise KeyError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}") from e
