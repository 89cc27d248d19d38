"""The FaceForensics++ layout, as its download script writes it.

Reals are ``original_sequences/youtube/<compression>/videos/*.mp4``; fakes are
``manipulated_sequences/<Method>/<compression>/videos/*.mp4`` with their mask videos (where the method has
them) at ``manipulated_sequences/<Method>/masks/videos/<same name>.mp4``. The official splits
``splits/{train,val,test}.json`` list pairs of source ids ``[["071", "054"], ...]``: the split holds the reals
``071.mp4`` and ``054.mp4`` and the fakes ``071_054.mp4`` and ``054_071.mp4``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from streamguard.datasets.records import MaskSource, MediaItem
from streamguard.errors import DatasetError

ORIGINALS_DIR = "original_sequences"
MANIPULATED_DIR = "manipulated_sequences"
REAL_SOURCE = "youtube"
SPLITS_DIR = "splits"


@dataclass(frozen=True, slots=True)
class _Split:
    """The video names (file stems) of one official split."""

    real_names: frozenset[str]
    fake_names: frozenset[str]

    def holds(self, item: MediaItem) -> bool:
        names = self.fake_names if item.is_fake else self.real_names
        return item.path.stem in names


def is_faceforensics_layout(root: Path) -> bool:
    """Whether ``root`` has an ``original_sequences/`` or a ``manipulated_sequences/`` folder."""
    return (root / ORIGINALS_DIR).is_dir() or (root / MANIPULATED_DIR).is_dir()


def scan_faceforensics(root: Path, *, split: str | None, compression: str) -> list[MediaItem]:
    """The FaceForensics++ videos of one compression level, optionally restricted to an official split.

    Args:
        root: The dataset root.
        split: ``train``, ``val``, ``test`` (any name with a ``splits/<name>.json``) or None for all videos.
        compression: The compression folder: ``raw``, ``c23`` or ``c40``.

    Returns:
        Reals (group ``youtube``) and fakes (group = method), sorted by relative path.

    Raises:
        DatasetError: When the split file is missing or malformed, or no video of that compression exists.
    """
    items = _real_items(root, compression) + _fake_items(root, compression)
    if not items:
        raise DatasetError(
            f"{root}: FaceForensics++ layout without videos for compression {compression!r}; expected "
            f"{ORIGINALS_DIR}/{REAL_SOURCE}/{compression}/videos/*.mp4 or "
            f"{MANIPULATED_DIR}/<method>/{compression}/videos/*.mp4"
        )
    if split is not None:
        official = _read_split(root, split)
        items = [item for item in items if official.holds(item)]
    return sorted(items, key=lambda item: item.rel_path)


def _real_items(root: Path, compression: str) -> list[MediaItem]:
    videos = root / ORIGINALS_DIR / REAL_SOURCE / compression / "videos"
    return [_item(root, path, is_fake=False, group=REAL_SOURCE, mask=None) for path in _mp4_files(videos)]


def _fake_items(root: Path, compression: str) -> list[MediaItem]:
    manipulated = root / MANIPULATED_DIR
    methods = sorted(_visible_dirs(manipulated)) if manipulated.is_dir() else []
    return [
        _item(root, path, is_fake=True, group=method.name, mask=_mask_video(method, path))
        for method in methods
        for path in _mp4_files(method / compression / "videos")
    ]


def _mask_video(method_dir: Path, video: Path) -> MaskSource | None:
    mask = method_dir / "masks" / "videos" / video.name
    return MaskSource(kind="video", path=mask) if mask.is_file() else None


def _item(root: Path, path: Path, *, is_fake: bool, group: str, mask: MaskSource | None) -> MediaItem:
    rel_path = path.relative_to(root).as_posix()
    return MediaItem(path=path, rel_path=rel_path, is_fake=is_fake, group=group, kind="video", mask=mask)


def _visible_dirs(parent: Path) -> list[Path]:
    return [child for child in parent.iterdir() if child.is_dir() and not child.name.startswith(".")]


def _mp4_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix.lower() == ".mp4" and not path.name.startswith("."))


def _read_split(root: Path, split: str) -> _Split:
    split_file = root / SPLITS_DIR / f"{split}.json"
    if not split_file.is_file():
        raise DatasetError(f"{root}: split {split!r} requested but {split_file} does not exist")
    try:
        pairs = json.loads(split_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{split_file}: cannot read split file: {e}") from e
    if not _is_list_of_pairs(pairs):
        raise DatasetError(f"{split_file}: expected a JSON list of [id, id] pairs of strings")
    real_names = {name for pair in pairs for name in pair}
    fake_names = {f"{a}_{b}" for a, b in pairs} | {f"{b}_{a}" for a, b in pairs}
    return _Split(frozenset(real_names), frozenset(fake_names))


def _is_list_of_pairs(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(name, str) for name in pair) for pair in value
    )
