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


def manifest_column(root: Path, column: str, label: str | None = None) -> dict[str, str]:
    """``{path relative to root: value of column}`` for the files under `root`, from the nearest ``MANIFEST.csv``.

    The manifest may sit in `root` or in a parent (``deepfakes_dev/MANIFEST.csv`` lists
    ``train/fake/...``): its paths are taken relative to the manifest's folder and kept when under `root`.
    `label` keeps only the rows of that label (``fake``); rows with an empty value are left out. An absent
    manifest gives an empty mapping.
    """
    root = root.resolve()
    for folder in (root, *root.parents):
        manifest = folder / MANIFEST
        if manifest.is_file():
            break
    else:
        return {}
    prefix = root.relative_to(folder).as_posix()
    values: dict[str, str] = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            file, value = row.get("file", ""), row.get(column, "")
            if (label is not None and row.get("label") != label) or not file or not value:
                continue
            if prefix == ".":
                values[file] = value
            elif file.startswith(prefix + "/"):
                values[file[len(prefix) + 1 :]] = value
    return values


def manifest_methods(root: Path) -> dict[str, str]:
    """``{path relative to root: method}`` of the fakes under `root` (`manifest_column` of ``method``)."""
    return manifest_column(root, "method", label="fake")


def manifest_people(root: Path, sources: list[str]) -> list[str]:
    """The ``person`` of each source path (relative to `root`); a file the manifest does not name is its own."""
    people = manifest_column(root, "person")
    return [people.get(source, f"file:{source}") for source in sources]


def attribute_labels(root: Path, sources: list[str]) -> list[Attribute | None]:
    """The expected attribute of each source path (relative to `root`); None for reals and unknown methods."""
    methods = manifest_methods(root)
    return [expected_attribute(methods[s]) if s in methods else None for s in sources]
