"""The folder layout: ``real/**`` and ``fake/**`` media, with optional masks under ``masks/``.

Masks of a fake ``fake/<rel>.<ext>`` live at ``masks/<rel>.png`` for an image and in the folder
``masks/<rel>/`` as ``<frame index>.png`` files for a video, where ``<rel>`` is the path below ``fake/``
without its extension. ``masks/fake/<rel>...`` is accepted as well. The group of an item is its first
folder below ``real/`` or ``fake/`` (``""`` for a file directly in it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from streamguard.datasets.records import STILL_IMAGE_SUFFIXES, VIDEO_SUFFIXES, MaskSource, MediaItem, MediaKind

REAL_DIR = "real"
FAKE_DIR = "fake"
MASKS_DIR = "masks"


def is_folder_layout(root: Path) -> bool:
    """Whether ``root`` has a ``real/`` or a ``fake/`` folder."""
    return (root / REAL_DIR).is_dir() or (root / FAKE_DIR).is_dir()


def scan_folder_layout(root: Path) -> list[MediaItem]:
    """All media files under ``root/real`` and ``root/fake``, sorted by relative path.

    Args:
        root: The dataset root.

    Returns:
        One item per image or video; hidden files and folders and non-media files are skipped.
    """
    items = [
        _make_item(root, label_dir, path, kind)
        for label_dir in (REAL_DIR, FAKE_DIR)
        for path in _walk_files(root / label_dir)
        if (kind := media_kind(path)) is not None
    ]
    return sorted(items, key=lambda item: item.rel_path)


def media_kind(path: Path) -> MediaKind | None:
    """``video``, ``image`` or None (not a media file) from the file name; a ``.webp`` is opened to tell."""
    suffix = path.suffix.lower()
    if suffix == ".webp":
        return "video" if _is_animated(path) else "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in STILL_IMAGE_SUFFIXES:
        return "image"
    return None


def _is_animated(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, SyntaxError):
        return False  # Unreadable: listed as an image, and reading it reports the error.


def _walk_files(top: Path) -> Iterator[Path]:
    """Non-hidden files below ``top``, following folder links but never into a folder twice."""
    if not top.is_dir():
        return
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if real_dir in visited:
            dirnames.clear()
            continue
        visited.add(real_dir)
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        yield from (Path(dirpath, name) for name in filenames if not name.startswith("."))


def _make_item(root: Path, label_dir: str, path: Path, kind: MediaKind) -> MediaItem:
    below_label = path.relative_to(root / label_dir)
    is_fake = label_dir == FAKE_DIR
    return MediaItem(
        path=path,
        rel_path=path.relative_to(root).as_posix(),
        is_fake=is_fake,
        group=below_label.parts[0] if len(below_label.parts) > 1 else "",
        kind=kind,
        mask=_find_mask(root, below_label, kind) if is_fake else None,
    )


def _find_mask(root: Path, below_fake: Path, kind: MediaKind) -> MaskSource | None:
    without_suffix = below_fake.with_suffix("")
    for masks_root in (root / MASKS_DIR, root / MASKS_DIR / FAKE_DIR):
        mask_base = masks_root / without_suffix
        mask_image = mask_base.with_name(mask_base.name + ".png")
        if kind == "image" and mask_image.is_file():
            return MaskSource(kind="image", path=mask_image)
        if kind == "video" and mask_base.is_dir():
            return MaskSource(kind="frames_dir", path=mask_base)
    return None
