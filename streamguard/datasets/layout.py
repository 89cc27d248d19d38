"""Finding the labelled media of a dataset: the layout is detected from the folders under the root.

Two layouts are understood (see `scan_dataset`): a plain folder layout (``real/``, ``fake/``, ``masks/``) and
the FaceForensics++ layout (``original_sequences/``, ``manipulated_sequences/``, ``splits/``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from streamguard.datasets.faceforensics import is_faceforensics_layout, scan_faceforensics
from streamguard.datasets.folder_layout import is_folder_layout, scan_folder_layout
from streamguard.datasets.records import MaskSource, MediaItem
from streamguard.errors import DatasetError

__all__ = ["MaskSource", "MediaItem", "scan_dataset", "summarize"]


def scan_dataset(root: Path, *, split: str | None = None, compression: str = "c23") -> list[MediaItem]:
    """List the labelled images and videos of a dataset, in a sorted, deterministic order.

    Folder layout: images and videos anywhere under ``root/real/`` and ``root/fake/``; the first folder level
    below them is the item's group. Masks of fakes are optional: ``masks/<rel>.png`` for the image
    ``fake/<rel>.<ext>``, and ``masks/<rel>/<frame index>.png`` for a video (``masks/fake/<rel>...`` also
    works). FaceForensics++ layout: ``original_sequences/youtube/<compression>/videos/*.mp4`` (reals) and
    ``manipulated_sequences/<Method>/<compression>/videos/*.mp4`` (fakes, with mask videos where present),
    optionally restricted to an official split listed in ``splits/<split>.json``.

    Args:
        root: The dataset root folder.
        split: FaceForensics++ only: the official split (``train``, ``val``, ``test``); None for all videos.
        compression: FaceForensics++ only: the compression level (``raw``, ``c23``, ``c40``).

    Returns:
        The items, sorted by relative path.

    Raises:
        DatasetError: When the root matches neither layout, holds no media, a split is asked of a folder
            layout, or the split file is missing or malformed.
    """
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root is not a folder")
    if is_faceforensics_layout(root):
        items = scan_faceforensics(root, split=split, compression=compression)
    elif is_folder_layout(root):
        if split is not None:
            raise DatasetError(
                f"{root}: split {split!r} requested, but a real/ + fake/ folder layout has no splits; "
                "use one dataset root per split"
            )
        items = scan_folder_layout(root)
    else:
        raise DatasetError(
            f"{root}: unknown dataset layout; expected real/ and/or fake/ folders, or the FaceForensics++ "
            "folders original_sequences/ and manipulated_sequences/"
        )
    if not items:
        raise DatasetError(f"{root}: no images or videos found" + (f" in split {split!r}" if split else ""))
    return items


def summarize(items: Iterable[MediaItem]) -> dict[str, object]:
    """Counts of a list of items, for checkpoint and report metadata (JSON-serialisable, sorted keys).

    Args:
        items: Dataset items.

    Returns:
        ``{"items": n, "labels": {"fake": n, "real": n}, "kinds": {"image": n, "video": n},
        "groups": {"fake": {group: n}, "real": {group: n}}, "fakes_with_masks": n}``.
    """
    labels: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {"fake": Counter(), "real": Counter()}
    with_masks = 0
    for item in items:
        label = "fake" if item.is_fake else "real"
        labels[label] += 1
        kinds[item.kind] += 1
        groups[label][item.group] += 1
        with_masks += item.is_fake and item.mask is not None
    return {
        "items": labels.total(),
        "labels": {label: labels[label] for label in ("fake", "real")},
        "kinds": {kind: kinds[kind] for kind in ("image", "video")},
        "groups": {label: dict(sorted(counts.items())) for label, counts in groups.items()},
        "fakes_with_masks": with_masks,
    }
