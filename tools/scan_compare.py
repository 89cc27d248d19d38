"""Compare `streamguard scan --json` reports of the same folder under different settings (issue 17's levers).

Per report: fake and real files alerted (recall and false-alert share), the first alert's start per alerted fake
and its change against the first report, faces scored, and the video AUC of each file's mean and peak P(fake)
(the scores themselves, not only the alerts). Files alerted in one report and not the other are listed.

    python -m tools.scan_compare runs/scan17/every1.json runs/scan17/every5.json runs/scan17/default.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.evaluate import metrics


def load(path: Path) -> dict[str, dict[str, Any]]:
    """``{file path: file entry}`` of a scan report."""
    report = json.loads(path.read_text())
    return {entry["path"]: entry for entry in report["files"]}


def first_start(entry: dict[str, Any]) -> float | None:
    """Media time of the file's first alert start, or None without alerts."""
    starts = [alert["start_s"] for alert in entry["alerts"]]
    return min(starts) if starts else None


def summary(files: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The report's figures, with first-alert delays against `base`."""
    fakes = [f for f in files.values() if f["label"] == "fake"]
    reals = [f for f in files.values() if f["label"] == "real"]
    delays = []
    for path, entry in files.items():
        mine, theirs = first_start(entry), first_start(base[path])
        if entry["label"] == "fake" and mine is not None and theirs is not None:
            delays.append(mine - theirs)
    delay = {
        "n": len(delays),
        "mean": float(np.mean(delays)) if delays else None,
        "max": float(np.max(delays)) if delays else None,
        "min": float(np.min(delays)) if delays else None,
    }
    scored = [f for f in files.values() if f["mean_p"] is not None]
    labels = np.array([f["label"] == "fake" for f in scored])
    return {
        "fakes_alerted": f"{sum(bool(f['alerts']) for f in fakes)}/{len(fakes)}",
        "reals_alerted": f"{sum(bool(f['alerts']) for f in reals)}/{len(reals)}",
        "first_alert_delay_s": delay,
        "faces_scored": sum(f["faces_scored"] for f in files.values()),
        "frames_analyzed": sum(f["frames_analyzed"] for f in files.values()),
        "auc_mean_p": metrics.roc_auc(labels, np.array([f["mean_p"] for f in scored])),
        "auc_max_p": metrics.roc_auc(labels, np.array([f["max_p"] for f in scored])),
    }


def group_table(files: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``{group: "fakes alerted/fakes, reals alerted/reals"}``; the group is the folder under real/ or fake/."""
    counts: dict[str, list[int]] = {}
    for path, entry in files.items():
        parts = Path(path).parts
        group = parts[parts.index(entry["label"]) + 1] if entry["label"] in parts else "?"
        row = counts.setdefault(group, [0, 0, 0, 0])
        offset = 0 if entry["label"] == "fake" else 2
        row[offset] += bool(entry["alerts"])
        row[offset + 1] += 1
    return {g: f"fakes {r[0]}/{r[1]}, reals {r[2]}/{r[3]}" for g, r in sorted(counts.items())}


def main() -> None:
    """Print one summary per report and the files whose alerting changed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args()
    base = load(args.reports[0])
    for path in args.reports:
        files = load(path)
        print(path, json.dumps(summary(files, base)))
        for group, row in group_table(files).items():
            print(f"  {group}: {row}")
        changed = [p for p, e in files.items() if bool(e["alerts"]) != bool(base[p]["alerts"])]
        for name in changed:
            print(f"  alerted {'now' if files[name]['alerts'] else 'no longer'}: {name} ({files[name]['label']})")


if __name__ == "__main__":
    main()
