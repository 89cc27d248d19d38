"""On-the-fly training data: reals and freshly forged fakes from a `FaceBank`, cropped like every other crop.

Item ``i`` of a `ForgeDataset` is a pure function of ``(seed, i)``: its generator is
``numpy.random.default_rng([seed, i])``, so DataLoader workers, shuffling and restarts all see the same
samples, and a large virtual length gives fresh variety every epoch. Each item is a real face or a fake (one
of the chosen methods), put through stream realism, and cut with the shared face crop
(`streamguard.vision.crop`: 1.3x the BlazeFace box, 256 px) whose box is jittered by a few per cent like a
live detector's; the fake's mask is cut with the same transform.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from streamguard import types
from streamguard.forge.bank import FaceBank, build_face_bank, default_group, list_media
from streamguard.forge.families import METHODS, ForgeError, forge, methods_of
from streamguard.forge.realism import RealismConfig, apply_realism
from streamguard.forge.records import REGIONS, Attribute, FloatMask, LandmarkedFace, RgbImage, label_mask
from streamguard.forge.sources import forge_sources
from streamguard.forge.split import load_split
from streamguard.model.preprocess import crops_to_tensor
from streamguard.vision.crop import DEFAULT_CROP_SCALE, DEFAULT_CROP_SIZE, FaceBox, crop_face

ATTRIBUTES = cast(tuple[Attribute, ...], tuple(attribute.value for attribute in types.ATTRIBUTES))
"""Attribute label indices: the model's attribute head order."""
MAX_ATTEMPTS = 8
P_OTHER_FRAME = 0.8
"""Region edits of a video frame take the region from another cached frame of the same video this often."""
DONOR_CANDIDATES = 8
"""A swap's donor is the one of this many random other people whose head pose is closest to the target's."""
MIN_CROP_MASK_SHARE = 0.002
"""A fake whose label mask covers less of the final crop than this is redrawn."""
PAIR_STREAM = 1
"""Third seed word of paired items, so pair ``k`` and unpaired item ``k`` draw from different streams."""


@dataclass(frozen=True, slots=True)
class ContextSample:
    """A real or forged context crop after stream realism, before the model's crop.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB context crop.
        mask: ``(H, W)`` float32 blend weights (zeros for a real), aligned with ``image``.
        box: The face box in ``image`` (mirrored when the realism flipped the image).
        is_fake: Whether it is a fake.
        method: The forgery method, ``""`` for a real.
        attribute: SOML attribute of a fake, None for a real.
        regions: SOML regions the fake's mask covers.
        sources: Target (then donor) identifiers.
        realism: The realism steps applied.
    """

    image: RgbImage
    mask: FloatMask
    box: FaceBox
    is_fake: bool
    method: str
    attribute: Attribute | None
    regions: frozenset[str]
    sources: tuple[str, ...]
    realism: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CropSample:
    """A model-ready crop with its binary mask and labels.

    Attributes:
        crop: ``(S, S, 3)`` uint8 RGB.
        mask: ``(S, S)`` float32 in {0, 1}: the label mask (half-maximum of the blend) cut like the crop.
        context: The context sample the crop was cut from.
    """

    crop: RgbImage
    mask: npt.NDArray[np.float32]
    context: ContextSample


def make_context_sample(
    bank: FaceBank,
    rng: np.random.Generator,
    *,
    method: str | None,
    realism: RealismConfig | None = None,
    target_index: int | None = None,
    realism_rng: np.random.Generator | None = None,
) -> ContextSample:
    """One real (``method=None``) or forged context crop, with stream realism applied.

    Args:
        bank: The faces to draw from.
        rng: Random source.
        method: The forgery method, or None for a real.
        realism: The realism chain; None applies none.
        target_index: The bank face to use; drawn from ``rng`` when None.
        realism_rng: Random source of the realism chain; ``rng`` when None. Two generators with the same seed
            degrade a real and its fake identically.

    Raises:
        ForgeError: When the method needs another person and the bank has nobody else, or the mask is empty.
    """
    index = int(rng.integers(len(bank))) if target_index is None else target_index
    face = bank[index]
    target = face.face()
    if method is None:
        image, mask = target.image, np.zeros(target.shape, dtype=np.float32)
        attribute, regions = None, frozenset[str]()
        sources: tuple[str, ...] = (target.source,)
    else:
        donor = _pick_donor(bank, index, method, rng)
        sample = forge(method, target, rng, donor)
        image, mask = sample.image, sample.mask
        attribute, regions, sources = sample.attribute, sample.regions, sample.sources
    steps: list[str] = []
    if realism is not None:
        image, mask, steps = apply_realism(image, mask, realism_rng or rng, realism)
    box = _mirror(face.box, image.shape[1]) if "flip" in steps else face.box
    return ContextSample(
        image=image, mask=mask, box=box, is_fake=method is not None, method=method or "", attribute=attribute,
        regions=regions, sources=sources, realism=tuple(steps),
    )  # fmt: skip


def _pick_donor(bank: FaceBank, index: int, method: str, rng: np.random.Generator) -> LandmarkedFace | None:
    kind = METHODS[method].donor
    if kind == "other_person":
        others = bank.other_people(index)
        if not others:
            raise ForgeError(f"{method} needs another person, but the bank holds one file only")
        candidates = [others[int(k)] for k in rng.integers(len(others), size=DONOR_CANDIDATES)]
        return bank[bank.closest_pose(index, candidates)].face()
    if kind == "same_person":
        frames = bank.other_frames(index)
        if frames and rng.random() < P_OTHER_FRAME:
            return bank[frames[int(rng.integers(len(frames)))]].face()
    return None


def _mirror(box: FaceBox, width: int) -> FaceBox:
    keypoints = tuple((width - x, y) for x, y in box.keypoints)
    return FaceBox(width - box.x1, box.y0, width - box.x0, box.y1, box.score, keypoints)


def jitter_box(box: FaceBox, rng: np.random.Generator, amount: float) -> FaceBox:
    """Shift the box centre by up to ``amount`` of its size and scale it by up to ``1 +- amount``."""
    if amount <= 0:
        return box
    size = max(box.width, box.height)
    dx, dy = rng.uniform(-amount, amount, size=2) * size
    scale = 1.0 + rng.uniform(-amount, amount)
    cx, cy = box.center
    half_w, half_h = box.width * scale / 2, box.height * scale / 2
    return FaceBox(cx + dx - half_w, cy + dy - half_h, cx + dx + half_w, cy + dy + half_h, box.score, box.keypoints)


def crop_context(
    sample: ContextSample, box: FaceBox, size: int = DEFAULT_CROP_SIZE, scale: float = DEFAULT_CROP_SCALE
) -> CropSample:
    """Cut the model's crop from a context sample, and its label mask with the same transform."""
    crop, transform = crop_face(sample.image, box, scale=scale, size=size)
    labels = label_mask(sample.mask).astype(np.float32)
    mask = (transform.crop_region(labels) >= 0.5).astype(np.float32)
    return CropSample(crop=crop, mask=mask, context=sample)


class ForgeDataset(Dataset[dict[str, torch.Tensor]]):
    """Map-style dataset of real and forged face crops, synthesised on the fly from a face bank.

    Items are dicts like `streamguard.train.data.CropDataset`'s: ``images01`` ``(3, S, S)`` float in [0, 1],
    ``masks`` ``(S, S)`` float32 in {0, 1}, ``is_fake`` float scalar, ``has_mask`` bool scalar (always True:
    every synthesised fake knows its mask, reals have an empty one) and ``attribute`` (long: -1 for a real, else
    the index in `ATTRIBUTES`), as `CropDataset` gives them. With ``with_labels`` the SOML ``regions`` (``(6,)``
    float multi-hot over `streamguard.forge.records.REGIONS`) are added.

    Args:
        bank: The real faces (one split's people only).
        length: Virtual number of items (indices ``0..length-1``).
        seed: Seeds every item (item ``i`` uses ``default_rng([seed, i])``).
        methods: Forgery methods to draw from; all of ``families``' when None.
        families: Restrict to these families (e.g. all but one, to hold a family out); all when None.
        fake_fraction: Probability that an item is a fake.
        realism: Stream realism applied to reals and fakes; None for none.
        size: Crop side.
        crop_scale: Crop side relative to the face box (the shared 1.3).
        box_jitter: Random shift and scale of the face box, as a share of its size.
        with_labels: Add the SOML label tensors.
        paired: Items come in pairs from one face: item ``2k`` is the real and ``2k + 1`` its fake, with the
            same face box jitter and the same realism draws (SBI's recipe), so the only cue that tells them
            apart is the manipulation itself, not identity, background or compression.

    Raises:
        ValueError: When the bank is empty or no method is left.
    """

    def __init__(
        self,
        bank: FaceBank,
        *,
        length: int = 100_000,
        seed: int = 0,
        methods: list[str] | None = None,
        families: list[str] | None = None,
        fake_fraction: float = 0.5,
        realism: RealismConfig | None = None,
        size: int = DEFAULT_CROP_SIZE,
        crop_scale: float = DEFAULT_CROP_SCALE,
        box_jitter: float = 0.05,
        with_labels: bool = False,
        paired: bool = False,
    ) -> None:
        if len(bank) == 0:
            raise ValueError("the face bank is empty")
        chosen = [m for m in (methods or list(METHODS)) if m in methods_of(families)]
        unknown = sorted(set(methods or []) - set(METHODS))
        if unknown or not chosen:
            raise ValueError(f"no usable forgery method (unknown: {unknown}; families: {families})")
        self.bank = bank
        self.length = length
        self.seed = seed
        self.methods = chosen
        self.fake_fraction = fake_fraction
        self.realism = realism
        self.size = size
        self.crop_scale = crop_scale
        self.box_jitter = box_jitter
        self.with_labels = with_labels
        self.paired = paired
        self._last_pair: tuple[int, tuple[CropSample, CropSample]] | None = None

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int, *, fake: bool | None = None, method: str | None = None) -> CropSample:
        """Item ``index`` as arrays (the same crop `__getitem__` returns as tensors).

        Args:
            index: Item index (any non-negative integer).
            fake: Force a real (False) or a fake (True); drawn when None.
            method: Force the forgery method of a fake; drawn from `methods` when None.
        """
        rng = np.random.default_rng([self.seed, index])
        is_fake = rng.random() < self.fake_fraction if fake is None else fake
        for _ in range(MAX_ATTEMPTS):
            name = (method or self.methods[int(rng.integers(len(self.methods)))]) if is_fake else None
            try:
                context = make_context_sample(self.bank, rng, method=name, realism=self.realism)
            except ForgeError:
                continue
            crop = crop_context(context, jitter_box(context.box, rng, self.box_jitter), self.size, self.crop_scale)
            if not is_fake or crop.mask.mean() >= MIN_CROP_MASK_SHARE:
                return crop
        raise ForgeError(f"item {index}: no usable {'fake' if is_fake else 'real'} after {MAX_ATTEMPTS} attempts")

    def sample_pair(self, pair: int, *, method: str | None = None) -> tuple[CropSample, CropSample]:
        """Pair ``pair`` as arrays: a real face and its fake, degraded and cropped identically.

        Args:
            pair: Pair index (items ``2 * pair`` and ``2 * pair + 1`` of a paired dataset).
            method: Force the forgery method; drawn from `methods` when None.
        """
        rng = np.random.default_rng([self.seed, pair, PAIR_STREAM])
        for _ in range(MAX_ATTEMPTS):
            name = method or self.methods[int(rng.integers(len(self.methods)))]
            target = int(rng.integers(len(self.bank)))
            realism_seed = int(rng.integers(2**63))
            try:
                fake = make_context_sample(
                    self.bank, rng, method=name, realism=self.realism, target_index=target,
                    realism_rng=np.random.default_rng(realism_seed),
                )  # fmt: skip
            except ForgeError:
                continue
            real = make_context_sample(
                self.bank, rng, method=None, realism=self.realism, target_index=target,
                realism_rng=np.random.default_rng(realism_seed),
            )  # fmt: skip
            box = jitter_box(fake.box, rng, self.box_jitter)
            fake_crop = crop_context(fake, box, self.size, self.crop_scale)
            if fake_crop.mask.mean() >= MIN_CROP_MASK_SHARE:
                return crop_context(real, box, self.size, self.crop_scale), fake_crop
        raise ForgeError(f"pair {pair}: no usable fake after {MAX_ATTEMPTS} attempts")

    def item(self, index: int) -> CropSample:
        """Item ``index`` as arrays: `sample` or, for a paired dataset, one side of `sample_pair`."""
        if not self.paired:
            return self.sample(index)
        # `PairedSampler` asks for 2k and 2k + 1 in a row (in one worker): the second costs nothing.
        if self._last_pair is None or self._last_pair[0] != index // 2:
            self._last_pair = (index // 2, self.sample_pair(index // 2))
        return self._last_pair[1][index % 2]

    def crop_arrays(self, n: int, start: int = 0) -> dict[str, Any]:
        """Items ``start..start+n-1`` stacked as arrays, keyed like `streamguard.train.data.CropSet`'s fields.

        ``CropSet(**dataset.crop_arrays(n))`` is a fixed validation set: ``crops`` ``(n, S, S, 3)`` uint8,
        ``masks`` ``(n, S, S)`` uint8 in {0, 1}, ``has_mask`` all True, ``is_fake``, ``sources`` (the target's
        identifier), ``groups`` (the method, ``real`` for reals) and ``attributes`` (-1 for reals).
        """
        items = [self.item(start + k) for k in range(n)]
        return {
            "crops": np.stack([it.crop for it in items]) if items else np.zeros((0, self.size, self.size, 3), np.uint8),
            "masks": np.stack([it.mask.astype(np.uint8) for it in items])
            if items
            else np.zeros((0, self.size, self.size), np.uint8),
            "has_mask": np.ones(len(items), dtype=bool),
            "is_fake": np.array([it.context.is_fake for it in items], dtype=bool),
            "sources": [it.context.sources[0] for it in items],
            "groups": [it.context.method or "real" for it in items],
            "attributes": np.array(
                [-1 if it.context.attribute is None else ATTRIBUTES.index(it.context.attribute) for it in items],
                dtype=np.int64,
            ),
        }

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.item(int(index))
        batch = {
            "images01": crops_to_tensor(item.crop[np.newaxis])[0],
            "masks": torch.from_numpy(np.ascontiguousarray(item.mask, dtype=np.float32)),
            "is_fake": torch.tensor(float(item.context.is_fake)),
            "has_mask": torch.tensor(True),
            "attribute": label_tensors(item.context)["attribute"],
        }
        if self.with_labels:
            batch.update(label_tensors(item.context))
        return batch


def label_tensors(sample: ContextSample) -> dict[str, torch.Tensor]:
    """The SOML labels as tensors: ``attribute`` (long, -1 for a real) and ``regions`` (multi-hot float)."""
    attribute = -1 if sample.attribute is None else ATTRIBUTES.index(sample.attribute)
    regions = torch.tensor([float(r in sample.regions) for r in REGIONS])
    return {"attribute": torch.tensor(attribute, dtype=torch.long), "regions": regions}


@dataclass(frozen=True)
class ForgeTrainingData:
    """On-the-fly training data and a fixed validation set, both synthesised from real faces.

    Attributes:
        train: The training dataset (people of the training side only).
        val: Validation arrays from held-out people, ``CropSet(**val)`` in `streamguard.train`.
        summary: Counts and settings for the checkpoint's ``training`` metadata.
    """

    train: ForgeDataset
    val: dict[str, Any]
    summary: dict[str, object]


def split_sides(files: list[str], groups: dict[str, str], val_share: float = 0.15) -> tuple[list[str], list[str]]:
    """(train, val) files: the committed split of the shared faces, or a hash split by group for other data.

    Files listed in ``streamguard/forge/real_faces_split.json`` keep their side (its ``test`` side is left out
    of both); other files go to validation when the SHA-256 of their identity group falls in the lowest
    ``val_share`` of the range, so one person's files are never on both sides.
    """
    table = load_split()
    train: list[str] = []
    val: list[str] = []
    for file in files:
        if file in table:
            side = table[file].split
        else:
            digest = hashlib.sha256(groups.get(file, default_group(file)).encode()).digest()
            side = "val" if int.from_bytes(digest[:8], "big") < val_share * 2**64 else "train"
        if side == "train":
            train.append(file)
        elif side == "val":
            val.append(file)
    return train, val


def forge_training_data(
    real_dir: Path,
    cache_dir: Path,
    *,
    seed: int = 0,
    families: list[str] | None = None,
    methods: list[str] | None = None,
    length: int = 200_000,
    n_val: int = 512,
    frames_per_video: int = 16,
    realism: RealismConfig | None = None,
    val_share: float = 0.15,
    paired: bool = False,
    size: int = DEFAULT_CROP_SIZE,
    extra_real: tuple[Path, ...] = (),
) -> ForgeTrainingData:
    """Face banks of the training and validation people, the on-the-fly training set and a fixed validation set.

    Args:
        real_dir: Real faces (``../shared/data/real_faces``, or any folder of images and videos).
        cache_dir: Face-bank cache folder.
        seed: Seeds the training items; validation items use ``seed + 1``.
        families: Families to train on (leave one out for the unseen-attack protocol); all when None.
        methods: Restrict to these methods; all of ``families``' when None.
        length: Virtual length of the training set (indices drawn per epoch by the DataLoader).
        n_val: Validation items (same families, held-out people).
        frames_per_video: Frames cached per video.
        realism: Stream realism for both sets; the default `RealismConfig` when None.
        val_share: Share of identity groups held out for validation among files outside the committed split.
        paired: Make the training set a paired `ForgeDataset` (validation stays unpaired, like test data).
        size: Crop side of both sets (the model's input size: crops are cut at it, as the daemon cuts them).
        extra_real: More folders of real faces for the training side only, every file of them (e.g. the reals of
            ``deepfakes_dev/train``: more people, real-world compression); their faces are forged like the rest.

    Raises:
        ForgeError: When either side ends up without faces.
    """
    train_bank, val_bank, extra_banks = training_banks(real_dir, cache_dir, frames_per_video, val_share, extra_real)
    about: dict[str, object] = {
        "real_dir": str(real_dir), "extra_real": [str(f) for f in extra_real],
        "extra_banks": [bank.summary() for bank in extra_banks],
    }  # fmt: skip
    return training_data_from_banks(
        train_bank, val_bank, seed=seed, families=families, methods=methods, length=length, n_val=n_val,
        realism=realism, paired=paired, size=size, about=about,
    )  # fmt: skip


def training_banks(
    real_dir: Path, cache_dir: Path, frames_per_video: int, val_share: float, extra_real: tuple[Path, ...] = ()
) -> tuple[FaceBank, FaceBank, list[FaceBank]]:
    """The training people's face bank (`extra_real` included), the validation people's, and each extra one.

    Raises:
        ForgeError: When either side ends up without faces.
    """
    files, groups = forge_sources(real_dir, None)
    train_files, val_files = split_sides(files, groups, val_share)
    banks = [
        build_face_bank(real_dir, side, cache_dir, groups=groups, frames_per_video=frames_per_video)
        for side in (train_files, val_files)
    ]
    if not len(banks[0]) or not len(banks[1]):
        sizes = f"{len(banks[0])} and {len(banks[1])} faces"
        raise ForgeError(f"{real_dir}: no faces on the training or the validation side ({sizes})")
    extra_banks = [_extra_bank(folder, cache_dir, frames_per_video) for folder in extra_real]
    train_bank = FaceBank([face for bank in (banks[0], *extra_banks) for face in bank.faces])
    return train_bank, banks[1], extra_banks


def training_data_from_banks(
    train_bank: FaceBank,
    val_bank: FaceBank,
    *,
    seed: int = 0,
    families: list[str] | None = None,
    methods: list[str] | None = None,
    length: int = 200_000,
    n_val: int = 512,
    realism: RealismConfig | None = None,
    paired: bool = False,
    size: int = DEFAULT_CROP_SIZE,
    about: dict[str, object] | None = None,
) -> ForgeTrainingData:
    """`forge_training_data` from banks already built (e.g. `FaceBank.load` on a machine without the media).

    `about` joins the summary (where the banks came from).
    """
    config = realism if realism is not None else RealismConfig()
    options: dict[str, Any] = {"families": families, "methods": methods, "realism": config, "size": size}
    train = ForgeDataset(train_bank, length=length, seed=seed, paired=paired, **options)
    val = ForgeDataset(val_bank, length=n_val, seed=seed + 1, **options).crop_arrays(n_val)
    summary: dict[str, object] = {
        "forge": {
            **(about or {}), "methods": train.methods, "seed": seed, "length": length, "n_val": n_val,
            "train_bank": train_bank.summary(), "val_bank": val_bank.summary(), "realism": asdict(config),
            "paired": paired, "size": size,
        }
    }  # fmt: skip
    return ForgeTrainingData(train=train, val=val, summary=summary)


def _extra_bank(folder: Path, cache_dir: Path, frames_per_video: int) -> FaceBank:
    """Every face of a folder of training reals; sources and groups are prefixed with the folder's name."""
    files = list_media(folder)
    bank = build_face_bank(folder, files, cache_dir, frames_per_video=frames_per_video)
    if not len(bank):
        raise ForgeError(f"{folder}: no usable faces among {len(files)} media files")
    prefix = folder.name
    return FaceBank([
        replace(face, source=f"{prefix}/{face.source}", group=f"{prefix}/{default_group(face.source)}")
        for face in bank.faces
    ])  # fmt: skip
