"""Training data: face crops of a labelled dataset held in memory, and the torch `Dataset` over them."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from streamguard.forge.jpeg import decode_jpeg, encode_jpeg
from streamguard.model.preprocess import crops_to_tensor

if TYPE_CHECKING:
    from streamguard.datasets.faces import FaceSample

Batch = dict[str, torch.Tensor]


@dataclass
class CropSet:
    """Face crops with labels and masks, one row per crop.

    Attributes:
        crops: `(N, S, S, 3)` uint8 RGB.
        masks: `(N, S, S)` uint8 in {0, 1} (zeros for reals and for fakes without a mask).
        has_mask: `(N,)` bool, whether the row has a ground-truth mask (reals always do: all zeros).
        is_fake: `(N,)` bool.
        sources: Dataset-relative path of each row's file (the unit of splitting).
        groups: Group of each row (first folder under `real/` or `fake/`).
        n_no_face: Rows cropped at the frame centre because no face was detected.
        failed: `path: reason` for each file that could not be decoded.
        attributes: `(N,)` int64 attribute label per row (index in `streamguard.types.ATTRIBUTES`; -1 for reals
            and fakes of an unknown method), or None when no row has one.
    """

    crops: np.ndarray
    masks: np.ndarray
    has_mask: np.ndarray
    is_fake: np.ndarray
    sources: list[str]
    groups: list[str]
    n_no_face: int = 0
    failed: list[str] = field(default_factory=list)
    attributes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.is_fake)

    @classmethod
    def from_samples(cls, samples: Iterable[FaceSample], size: int, failed: list[str] | None = None) -> CropSet:
        """Stack face samples (e.g. from `iter_face_samples`) into arrays."""
        rows = list(samples)
        empty_mask = np.zeros((size, size), dtype=np.uint8)
        return cls(
            crops=np.stack([r.crop for r in rows]) if rows else np.zeros((0, size, size, 3), np.uint8),
            masks=np.stack([empty_mask if r.mask is None else r.mask.astype(np.uint8) for r in rows])
            if rows
            else np.zeros((0, size, size), np.uint8),
            has_mask=np.array([r.mask is not None for r in rows], dtype=bool),
            is_fake=np.array([r.item.is_fake for r in rows], dtype=bool),
            sources=[r.item.rel_path for r in rows],
            groups=[r.item.group for r in rows],
            n_no_face=sum(r.no_face for r in rows),
            failed=list(failed or []),
        )

    @property
    def attribute_labels(self) -> np.ndarray:
        """`attributes`, or all -1 when the set has none."""
        if self.attributes is None:
            return np.full(len(self), -1, dtype=np.int64)
        return self.attributes

    def subset(self, index: np.ndarray) -> CropSet:
        """Rows selected by an integer or boolean index."""
        idx = np.flatnonzero(index) if index.dtype == bool else index
        return CropSet(
            attributes=None if self.attributes is None else self.attributes[idx],
            crops=self.crops[idx],
            masks=self.masks[idx],
            has_mask=self.has_mask[idx],
            is_fake=self.is_fake[idx],
            sources=[self.sources[i] for i in idx],
            groups=[self.groups[i] for i in idx],
        )

    def save_portable(self, path: Path, jpeg_quality: int = 95) -> None:
        """Write the set to one small ``.npz`` (crops as JPEG, masks as bits, no pickles) for another machine.

        JPEG changes the crops slightly: a portable set is for choosing epochs elsewhere, not for final figures.
        """
        encoded = [encode_jpeg(crop, jpeg_quality) for crop in self.crops]
        offsets = np.cumsum([0] + [len(j) for j in encoded]).astype(np.int64)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp, jpeg=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets,
            mask_bits=np.packbits(self.masks.astype(bool), axis=None), shape=np.array(self.masks.shape),
            has_mask=self.has_mask, is_fake=self.is_fake, sources=np.array(self.sources, dtype=str),
            groups=np.array(self.groups, dtype=str), attributes=self.attribute_labels,
        )  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load_portable(cls, path: Path) -> CropSet:
        """A set written by `save_portable`."""
        with np.load(path, allow_pickle=False) as data:
            blob, offsets, shape = data["jpeg"].tobytes(), data["offsets"], tuple(int(v) for v in data["shape"])
            crops = [decode_jpeg(blob[int(offsets[k]) : int(offsets[k + 1])]) for k in range(len(offsets) - 1)]
            masks = np.unpackbits(data["mask_bits"], count=int(np.prod(shape))).reshape(shape)
            attributes = data["attributes"]
            return cls(
                crops=np.stack(crops) if crops else np.zeros((0, shape[1], shape[2], 3), np.uint8), masks=masks,
                has_mask=data["has_mask"], is_fake=data["is_fake"], sources=[str(s) for s in data["sources"]],
                groups=[str(g) for g in data["groups"]], attributes=attributes if (attributes >= 0).any() else None,
            )  # fmt: skip

    def split_by_source(self, val_fraction: float, seed: int = 0) -> tuple[CropSet, CropSet]:
        """Split into (train, val) so that all crops of one file land on the same side.

        The side of a file is a hash of its path and the seed, so the split is stable as files are added.
        """
        threshold = int(val_fraction * 2**32)
        in_val = np.array([zlib.crc32(f"{seed}:{s}".encode()) < threshold for s in self.sources], dtype=bool)
        return self.subset(~in_val), self.subset(in_val)

    def summary(self) -> dict[str, Any]:
        """Counts for checkpoint metadata and logs."""
        return {
            "n_crops": len(self),
            "n_fake": int(self.is_fake.sum()),
            "n_real": int((~self.is_fake).sum()),
            "n_files": len(set(self.sources)),
            "n_with_mask": int(self.has_mask.sum()),
            "n_no_face": self.n_no_face,
            "n_failed": len(self.failed),
            "groups": dict(Counter(self.groups)),
        }


class CropDataset(Dataset[Batch]):
    """Torch view of a `CropSet`, with an optional random horizontal flip applied to crop and mask alike.

    ``paired`` marks a set stored as (real, fake) pairs at indices ``2k, 2k + 1`` (a paired forged pool):
    training then draws them with `PairedSampler`, and both sides of a pair drawn one after the other get the
    same flip, so that the flip is no cue either.
    """

    def __init__(self, crops: CropSet, augment: bool = False, seed: int = 0, paired: bool = False) -> None:
        self.crops = crops
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.paired = paired
        self._last_flip: tuple[int, bool] = (-1, False)  # (pair, flipped) of the latest item drawn

    def __len__(self) -> int:
        return len(self.crops)

    def _flip(self, i: int) -> bool:
        group = i // 2 if self.paired else i
        if self.paired and self._last_flip[0] == group:
            return self._last_flip[1]
        flip = bool(self.rng.random() < 0.5)
        self._last_flip = (group, flip)
        return flip

    def __getitem__(self, i: int) -> Batch:
        crop, mask, attributes = self.crops.crops[i], self.crops.masks[i], self.crops.attributes
        if self.augment and self._flip(i):
            crop, mask = crop[:, ::-1], mask[:, ::-1]
        return {
            "images01": crops_to_tensor(crop[None])[0],
            "masks": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)),
            "is_fake": torch.tensor(float(self.crops.is_fake[i])),
            "has_mask": torch.tensor(bool(self.crops.has_mask[i])),
            "attribute": torch.tensor(-1 if attributes is None else int(attributes[i]), dtype=torch.long),
        }


class PairedSampler(Sampler[int]):
    """Shuffled pairs: yields ``2k, 2k + 1`` together for pairs ``k`` in random order.

    A batch then holds a real and its fake side by side (SBI's recipe), and a `ForgeDataset` worker that gets
    both indices forges the pair once.
    """

    def __init__(self, length: int, generator: torch.Generator | None = None) -> None:
        self.pairs = length // 2
        self.generator = generator

    def __len__(self) -> int:
        return 2 * self.pairs

    def __iter__(self) -> Iterator[int]:
        for pair in torch.randperm(self.pairs, generator=self.generator).tolist():
            yield 2 * pair
            yield 2 * pair + 1


def endless_batches(data: Dataset[Batch], batch_size: int, seed: int) -> Iterator[Batch]:
    """Shuffled batches of `data`, reshuffled after every pass, forever.

    A set smaller than one batch is drawn with replacement (dropping the short last batch would yield nothing).

    Raises:
        ValueError: `data` is empty.
    """
    size = len(data)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("cannot draw batches from an empty set")
    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(data, replacement=True, num_samples=batch_size, generator=generator)  # type: ignore[arg-type]
    while True:
        if size < batch_size:
            yield from DataLoader(data, batch_size=batch_size, sampler=sampler)
        else:
            yield from DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)


def balanced_batches(crops: CropSet, rows: int, seed: int) -> Iterator[Batch]:
    """Endless batches of `rows` crops of `crops` (flipped at random), half fakes and half reals.

    Balanced so that the set's own look (a movie clip, a compression level) is never a cue for either class:
    a set of real deepfakes holds its reals and fakes in whatever ratio its sources gave.

    Raises:
        ValueError: `crops` lacks fakes or reals, or `rows` < 2.
    """
    if rows < 2 or not crops.is_fake.any() or crops.is_fake.all():
        raise ValueError(f"balanced batches need rows >= 2 and both classes (rows={rows}, {crops.summary()})")
    half = rows // 2
    fake_rows, real_rows = crops.subset(crops.is_fake), crops.subset(~crops.is_fake)
    fakes = endless_batches(CropDataset(fake_rows, augment=True, seed=seed), half, seed)
    reals = endless_batches(CropDataset(real_rows, augment=True, seed=seed + 1), rows - half, seed + 1)
    for fake, real in zip(fakes, reals, strict=True):
        yield concat_batches(fake, real)


def paired_batches(crops: CropSet, people: list[str], pairs: int, seed: int) -> Iterator[Batch]:
    """Endless batches of `pairs` (fake, real) pairs, each fake beside a real crop of the same person.

    The SBI idea applied to real deepfakes: a fake next to its own person's real face (an FF++ fake beside the
    original video it was made from, at the same position in the clip; a reenactment beside its source clip)
    leaves the manipulation as the only difference, where unpaired rows let a network learn who is fake.
    A fake whose person has no real crop is paired with a random real. Both sides of a pair share one flip.

    Raises:
        ValueError: `crops` lacks fakes or reals, `pairs` < 1, or `people` is not one entry per crop.
    """
    if pairs < 1 or not crops.is_fake.any() or crops.is_fake.all() or len(people) != len(crops):
        raise ValueError(f"paired batches need pairs >= 1, both classes and a person per crop ({crops.summary()})")
    rng = np.random.default_rng(seed)
    partner = _partner_rows(crops, people)
    fakes = np.flatnonzero(crops.is_fake)
    while True:
        order = rng.permutation(fakes)
        for start in range(0, len(order) - pairs + 1, pairs):
            rows: list[int] = []
            for fake in order[start : start + pairs]:
                rows += [int(fake), int(rng.choice(partner[int(fake)]))]
            flips = np.repeat(rng.random(pairs) < 0.5, 2)
            yield _rows_batch(crops, rows, flips)


def _partner_rows(crops: CropSet, people: list[str]) -> dict[int, np.ndarray]:
    """For each fake row, the real rows it may be paired with: the same position in each real clip of its person."""
    rows_of: dict[str, list[int]] = {}
    for row, source in enumerate(crops.sources):
        rows_of.setdefault(source, []).append(row)
    real_sources: dict[str, list[str]] = {}
    for source, rows in rows_of.items():
        if not crops.is_fake[rows[0]]:
            real_sources.setdefault(people[rows[0]], []).append(source)
    every_real = np.flatnonzero(~crops.is_fake)
    partner: dict[int, np.ndarray] = {}
    for row in map(int, np.flatnonzero(crops.is_fake)):
        own = rows_of[crops.sources[row]]
        position = own.index(row)
        sources = real_sources.get(people[row], [])
        candidates = [rows_of[s][min(position, len(rows_of[s]) - 1)] for s in sources]
        partner[row] = np.array(candidates) if candidates else every_real
    return partner


def _rows_batch(crops: CropSet, rows: list[int], flips: np.ndarray) -> Batch:
    images = crops.crops[rows].copy()
    masks = crops.masks[rows].copy()
    images[flips] = images[flips][:, :, ::-1]
    masks[flips] = masks[flips][:, :, ::-1]
    return {
        "images01": crops_to_tensor(images),
        "masks": torch.from_numpy(masks.astype(np.float32)),
        "is_fake": torch.from_numpy(crops.is_fake[rows].astype(np.float32)),
        "has_mask": torch.from_numpy(crops.has_mask[rows].copy()),
        "attribute": torch.from_numpy(crops.attribute_labels[rows].astype(np.int64)),
    }


def concat_batches(first: Batch, second: Batch) -> Batch:
    """The rows of two batches of the same keys, one after the other."""
    if first.keys() != second.keys():
        raise ValueError(f"batches of different keys: {sorted(first)} vs {sorted(second)}")
    return {key: torch.cat([first[key], second[key]]) for key in first}
