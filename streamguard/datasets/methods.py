"""What each fake of a labelled dataset changed, from the ``method`` column of its ``MANIFEST.csv``.

``deepfakes_dev`` (and any set laid out like it) names the tool behind every fake, e.g. ``FF++ Face2Face
(c40), target 183, source 253`` or ``lip-sync output (wav2lip)``. `expected_attribute` maps that text to the
SOML attribute the tool changes: swaps change the identity; reenactment, lip-sync and talking heads the
expression; de-ageing and retouching the physical appearance. Methods it cannot tell (``FF++ manipulation
(method not stated)``) map to None and are left out of attribute training and scoring.
"""

from __future__ import annotations

import csv
from pathlib import Path

from streamguard.types import Attribute

MANIFEST = "MANIFEST.csv"

_KEYWORDS: tuple[tuple[Attribute, tuple[str, ...]], ...] = (
    (Attribute.PHYSICAL, ("de-ageing", "deage", "retouch", "makeup")),
    (Attribute.EXPRESSION, (
        "face2face", "neuraltextures", "reenact", "lip-sync", "lipsync", "wav2lip", "ip_lap", "talking head",
        "styletalk", "sadtalker", "retalking",
    )),
    (Attribute.IDENTITY, (
        "deepfakes", "faceswap", "face swap", "deepfake", "inswapper", "blendface", "head replacement",
        "dfdc-style fake",
    )),
)  # fmt: skip
"""Checked in order: the first attribute with a keyword in the lower-cased method text wins."""


def expected_attribute(method: str) -> Attribute | None:
    """The attribute a method changes, or None when its text does not say."""
    text = method.lower()
    for attribute, keywords in _KEYWORDS:
        if any(keyword in text for keyword in keywords):
            return attribute
    return None


def manifest_methods(root: Path) -> dict[str, str]:
    """``{path relative to root: method}`` of the fakes under `root`, from the nearest ``MANIFEST.csv``.

    The manifest may sit in `root` or in a parent (``deepfakes_dev/MANIFEST.csv`` lists
    ``train/fake/...``): its paths are taken relative to the manifest's folder and kept when under `root`.
    An absent manifest gives an empty mapping.
    """
    root = root.resolve()
    for folder in (root, *root.parents):
        manifest = folder / MANIFEST
        if manifest.is_file():
            break
    else:
        return {}
    prefix = root.relative_to(folder).as_posix()
    methods: dict[str, str] = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            file, method = row.get("file", ""), row.get("method", "")
            if row.get("label") != "fake" or not file or not method:
                continue
            if prefix == ".":
                methods[file] = method
            elif file.startswith(prefix + "/"):
                methods[file[len(prefix) + 1 :]] = method
    return methods


def attribute_labels(root: Path, sources: list[str]) -> list[Attribute | None]:
    """The expected attribute of each source path (relative to `root`); None for reals and unknown methods."""
    methods = manifest_methods(root)
    return [expected_attribute(methods[s]) if s in methods else None for s in sources]
