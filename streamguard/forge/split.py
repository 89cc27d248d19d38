"""The fixed train/val/test split of ``../shared/data/real_faces`` by person and source (never by frame).

Rule (`build_split`), applied to the files listed in ``real_faces/MANIFEST.csv``:

1. A file's source is the repository it was collected from: the file name up to its first ``__``
   (``images/deepface__tests__...jpg`` -> ``deepface``). Images and videos of one repository share a source,
   because repositories reuse their people (``deepface`` holds ~14 people, several photos each).
2. People who recur across sources are found by name in the file names (`PEOPLE`: Obama, Trump, Einstein,
   Robert Downey Jr., John Lennon, Audrey Hepburn, MEAD speaker M030, and Biden who appears with Obama), and
   every source holding one of them is merged with the other sources holding the same person (union-find).
   The merged sources form a group, named by its sources joined with ``+``.
3. Groups are assigned greedily, largest first (ties broken by the SHA-256 of the group name), each to the
   split whose file count is furthest below its target (70 % train, 15 % val, 15 % test of all files), with
   images and videos counted separately so that every split gets both.

The result is committed as ``real_faces_split.json`` beside this module (regenerate it with
``python -m streamguard.forge.split ../shared/data/real_faces/MANIFEST.csv``); `load_split` reads it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPLITS: tuple[str, ...] = ("train", "val", "test")
FRACTIONS: dict[str, float] = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_FILE = Path(__file__).with_name("real_faces_split.json")

PEOPLE: dict[str, str] = {
    "obama": r"obama",
    "trump": r"trump",
    "einstein": r"einstein",
    "robert_downey_jr": r"downey",
    "john_lennon": r"lennon",
    "audrey_hepburn": r"hepburn",
    "mead_m030": r"m030",
    "biden": r"biden",
}
"""People known to recur across sources, by a case-insensitive pattern of their file names."""

RULE = (
    "group = source repository (file name before the first '__'), sources sharing a recurring person (PEOPLE) "
    "merged; groups assigned largest first (ties: SHA-256 of the name) to the split furthest below its target "
    "share of images and of videos (train 0.70, val 0.15, test 0.15). See streamguard/forge/split.py."
)


@dataclass(frozen=True, slots=True)
class SplitEntry:
    """Where one file of the shared faces goes.

    Attributes:
        split: ``train``, ``val`` or ``test``.
        group: The group (merged sources) the file belongs to; no group spans two splits.
        source: The file's source repository.
        people: Recurring people named in the file name.
    """

    split: str
    group: str
    source: str
    people: tuple[str, ...]


def source_of(file: str) -> str:
    """The source repository of a manifest path (``images/deepface__x.jpg`` -> ``deepface``)."""
    return Path(file).name.split("__", 1)[0]


def people_in(file: str) -> tuple[str, ...]:
    """The recurring people (`PEOPLE` keys) whose pattern matches the file name."""
    name = Path(file).name.lower()
    return tuple(person for person, pattern in PEOPLE.items() if re.search(pattern, name))


def read_manifest(manifest_csv: Path) -> list[str]:
    """The ``file`` column of the manifest: media paths relative to ``real_faces/`` (parsing masks excluded)."""
    with manifest_csv.open(newline="") as f:
        files = [row["file"] for row in csv.DictReader(f)]
    return sorted(f for f in files if f.startswith(("images/", "videos/")))


def build_split(manifest_csv: Path) -> dict[str, Any]:
    """Compute the split of the files listed in a manifest (see the module docstring for the rule).

    Args:
        manifest_csv: ``real_faces/MANIFEST.csv``.

    Returns:
        ``{"rule": ..., "fractions": ..., "groups": {group: {split, sources, people, images, videos}},
        "files": {file: {split, group, source, people}}, "counts": {split: {images, videos, groups}}}``,
        with sorted keys (JSON-ready).
    """
    files = read_manifest(manifest_csv)
    groups = _group_sources(files)
    members: dict[str, list[str]] = defaultdict(list)
    for file in files:
        members[groups[source_of(file)]].append(file)
    assignment = _assign(members)
    group_table: dict[str, dict[str, Any]] = {
        name: {
            "split": assignment[name],
            "sources": sorted({source_of(f) for f in group_files}),
            "people": sorted({p for f in group_files for p in people_in(f)}),
            "images": sum(f.startswith("images/") for f in group_files),
            "videos": sum(f.startswith("videos/") for f in group_files),
        }
        for name, group_files in sorted(members.items())
    }
    file_table = {
        f: {"split": assignment[groups[source_of(f)]], "group": groups[source_of(f)], "source": source_of(f),
            "people": list(people_in(f))}
        for f in files
    }  # fmt: skip
    counts = {
        split: {
            "images": sum(g["images"] for g in group_table.values() if g["split"] == split),
            "videos": sum(g["videos"] for g in group_table.values() if g["split"] == split),
            "groups": sum(g["split"] == split for g in group_table.values()),
        }
        for split in SPLITS
    }
    return {
        "rule": RULE,
        "fractions": FRACTIONS,
        "counts": counts,
        "groups": group_table,
        "files": file_table,
    }


def _group_sources(files: list[str]) -> dict[str, str]:
    """Source -> group name: sources sharing a recurring person are merged (union-find)."""
    parent = {source_of(f): source_of(f) for f in files}

    def find(source: str) -> str:
        while parent[source] != source:
            parent[source] = parent[parent[source]]
            source = parent[source]
        return source

    holders: dict[str, set[str]] = defaultdict(set)
    for file in files:
        for person in people_in(file):
            holders[person].add(source_of(file))
    for sources in holders.values():
        first, *rest = sorted(sources)
        for other in rest:
            parent[find(other)] = find(first)
    roots: dict[str, list[str]] = defaultdict(list)
    for source in parent:
        roots[find(source)].append(source)
    return {source: "+".join(sorted(sources)) for sources in roots.values() for source in sources}


def _assign(members: dict[str, list[str]]) -> dict[str, str]:
    """Greedy assignment of groups to splits by the largest deficit of images plus videos."""
    kinds = ("images/", "videos/")
    sizes = {g: [sum(f.startswith(k) for f in fs) for k in kinds] for g, fs in members.items()}
    totals = [sum(size[i] for size in sizes.values()) for i in range(len(kinds))]
    targets = {s: [FRACTIONS[s] * t for t in totals] for s in SPLITS}
    current = {s: [0.0] * len(kinds) for s in SPLITS}
    order = sorted(members, key=lambda g: (-sum(sizes[g]), hashlib.sha256(g.encode()).hexdigest()))
    assignment: dict[str, str] = {}
    for group in order:

        def deficit(split: str, group: str = group) -> float:
            return sum(
                (targets[split][i] - current[split][i]) / max(totals[i], 1) * (sizes[group][i] > 0)
                for i in range(len(kinds))
            )

        best = max(SPLITS, key=deficit)  # max keeps the first of equals: train, then val, then test
        assignment[group] = best
        current[best] = [c + n for c, n in zip(current[best], sizes[group], strict=True)]
    return assignment


def write_split(manifest_csv: Path, out: Path = SPLIT_FILE) -> dict[str, Any]:
    """Build the split and write it as key-sorted JSON, one line per file (diff-friendly)."""
    table = build_split(manifest_csv)
    out.write_text(dump_split(table))
    return table


def dump_split(table: dict[str, Any]) -> str:
    """The JSON text of a split table: indented, keys sorted, each file's entry on one line."""
    head = json.dumps({k: v for k, v in table.items() if k != "files"}, indent=1, sort_keys=True)
    files = ",\n".join(
        f"  {json.dumps(file)}: {json.dumps(entry, sort_keys=True)}" for file, entry in sorted(table["files"].items())
    )
    return head[: -len("\n}")] + ',\n "files": {\n' + files + "\n }\n}\n"


def load_split(path: Path = SPLIT_FILE) -> dict[str, SplitEntry]:
    """The committed split: manifest path (``images/...``, ``videos/...``) -> `SplitEntry`."""
    table = json.loads(path.read_text())
    return {
        file: SplitEntry(entry["split"], entry["group"], entry["source"], tuple(entry["people"]))
        for file, entry in table["files"].items()
    }


def files_in_split(split: str, path: Path = SPLIT_FILE) -> list[str]:
    """The manifest paths assigned to one split, sorted.

    Raises:
        ValueError: When the split name is unknown.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return sorted(f for f, entry in load_split(path).items() if entry.split == split)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m streamguard.forge.split REAL_FACES/MANIFEST.csv")
    written = write_split(Path(sys.argv[1]))
    print(json.dumps(written["counts"], indent=1))
