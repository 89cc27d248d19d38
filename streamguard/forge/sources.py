"""Which real files a forge run draws from: a split of the shared faces, a manifest, or every media file."""

from __future__ import annotations

from pathlib import Path

from streamguard.forge.bank import list_media
from streamguard.forge.families import ForgeError
from streamguard.forge.split import SPLITS, files_in_split, load_split, read_manifest


def forge_sources(real_dir: Path, split: str | None) -> tuple[list[str], dict[str, str]]:
    """The media files to forge from, relative to ``real_dir``, and their identity groups.

    With a split, the files of that split of the shared faces (`streamguard.forge.split`) present under
    ``real_dir``; without, the files of ``real_dir/MANIFEST.csv`` when it exists, else every image and video.

    Raises:
        ForgeError: When no media file is found.
    """
    table = load_split()
    if split is not None:
        if split not in SPLITS:
            raise ForgeError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        files = [f for f in files_in_split(split) if (real_dir / f).is_file()]
    elif (real_dir / "MANIFEST.csv").is_file():
        files = read_manifest(real_dir / "MANIFEST.csv")
    else:
        files = list_media(real_dir)
    if not files:
        raise ForgeError(f"{real_dir}: no media files" + (f" of split {split!r}" if split else ""))
    return files, {f: table[f].group for f in files if f in table}
