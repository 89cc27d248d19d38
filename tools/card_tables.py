"""The model card's tables from a `tools/v2_report.sh` folder: python tools/card_tables.py OUT_DIR [OTHER_DIR].

With OTHER_DIR (another checkpoint's report, e.g. v1's), the dev-val table shows both side by side.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _load(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def eval_table(report: dict[str, Any], other: dict[str, Any]) -> str:
    """Per group: counts, frame and video AUC (and the other report's, when given)."""
    head = "| set | fake items | real items | frame AUC | video AUC |"
    if other:
        head += " frame AUC (other) | video AUC (other) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    rows = [("all", report, other)]
    if "unseen_generators" in report:
        rows.append(("unseen generators (" + ", ".join(report["unseen_generators"]["groups"]) + ")",
                     report["unseen_generators"], other.get("unseen_generators", {})))  # fmt: skip
    rows += [(g, r, other.get("groups", {}).get(g, {})) for g, r in report["groups"].items()]
    for name, r, o in rows:
        items = r["n_videos"] + r["n_images"]
        fake_frames, real_frames = r["n_fake_frames"], r["n_real_frames"]
        line = f"| {name} | {fake_frames} frames | {real_frames} frames ({items} files) | {_f(r['frame_auc'])} | "
        line += f"{_f(r['video_auc'])} |"
        if other:
            line += f" {_f(o.get('frame_auc'))} | {_f(o.get('video_auc'))} |"
        lines.append(line)
    return "\n".join(lines)


def scan_table(scan: dict[str, Any]) -> str:
    """Per group of the scanned tree: fake files alerted, real files alerted."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"fake": [0, 0], "real": [0, 0]})
    for f in scan["files"]:
        if f["error"] is not None or f["label"] is None:
            continue
        group = Path(f["path"]).parent.name
        counts[group][f["label"]][0] += bool(f["alerts"])
        counts[group][f["label"]][1] += 1
    lines = ["| group | fakes alerted | reals alerted |", "|---|---|---|"]
    for group, c in sorted(counts.items()):
        lines.append(f"| {group} | {c['fake'][0]}/{c['fake'][1]} | {c['real'][0]}/{c['real'][1]} |")
    s = scan["summary"]
    lines.append(f"| **all** | {s['fake']['alerted']}/{s['fake']['n']} | {s['real']['alerted']}/{s['real']['n']} |")
    lines.append(
        f"| videos only | {s['fake_video']['alerted']}/{s['fake_video']['n']} | "
        f"{s['real_video']['alerted']}/{s['real_video']['n']} |"
    )
    return "\n".join(lines)


def unlabelled_scan_line(scan: dict[str, Any]) -> str:
    """Files of an all-real scan (no real/ or fake/ folders) that raised an alert: its false-alarm rate."""
    scanned = [f for f in scan["files"] if f["error"] is None]
    alerted = [f for f in scanned if f["alerts"]]
    names = ", ".join(Path(f["path"]).name for f in alerted) or "none"
    return f"{len(alerted)} of {len(scanned)} real videos raised an alert ({names})."


def families_table(families: dict[str, Any]) -> str:
    """Per family: frame AUC, EER, mask IoU."""
    lines = ["| family | frame AUC | EER | ACC | seg pixel acc | mask IoU |", "|---|---|---|---|---|---|"]
    for family, r in families.items():
        lines.append(f"| {family} | {_f(r['frame_auc'])} | {_f(r['eer'])} | {_f(r['acc'])} | "
                     f"{_f(r['seg_pixel_acc'])} | {_f(r['seg_iou'])} |")  # fmt: skip
    return "\n".join(lines)


def main(folder: Path, other: Path | None) -> None:
    """Print every table the folder has data for."""
    report = _load(folder, "eval.json")
    if report:
        print("## deepfakes_dev/val (streamguard eval)\n")
        print(eval_table(report, _load(other, "eval.json") if other else {}) + "\n")
    for name, title in (("scan.json", "deepfakes_dev/val (streamguard scan)"),
                        ("scan_test_people.json", "real_faces test people's videos (streamguard scan)")):  # fmt: skip
        scan = _load(folder, name)
        if scan:
            labelled = any(f["label"] is not None for f in scan["files"])
            print(f"## {title}\n\n{scan_table(scan) if labelled else unlabelled_scan_line(scan)}\n")
    families = _load(folder / "families", "families.json")
    if families:
        print(f"## held-out people (streamguard eval-families)\n\n{families_table(families)}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
