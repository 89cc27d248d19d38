"""Per-family evaluation on forgeries of held-out people (the model card's table).

For each manipulation family, `streamguard forge` writes a test set from the *test* side of the committed
person/source split (people never seen in training or validation), then `evaluate_dataset` scores it. A
family left out of training is the "unseen attack" (the paper's Tests 3-4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamguard.evaluate.runner import EvalOptions, evaluate_dataset
from streamguard.model.detector import Detector

TABLE_METRICS = ("frame_auc", "eer", "acc", "ece", "seg_pixel_acc", "seg_iou", "n_frames")


def evaluate_families(
    detector: Detector,
    real_dir: Path,
    out_dir: Path,
    *,
    families: tuple[str, ...],
    n: int = 200,
    seed: int = 1234,
    cache_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Forge a held-out test set per family (reused when present), evaluate each, and write `families.json`."""
    from streamguard.forge.families import methods_of
    from streamguard.forge.writer import run_forge

    results = {}
    for family in families:
        folder = out_dir / family
        if not (folder / "labels.json").exists():
            run_forge(real_dir, folder, n, seed, methods_of([family]), "test", cache_dir=cache_dir)
        report = evaluate_dataset(detector, folder, EvalOptions(frames_per_video=8))
        results[family] = {key: report.get(key) for key in TABLE_METRICS}
    (out_dir / "families.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def markdown(results: dict[str, dict[str, Any]], unseen: set[str]) -> str:
    """The table: one row per family, marked when the family was left out of training."""
    lines = ["| family | " + " | ".join(TABLE_METRICS) + " |", "|---" * (len(TABLE_METRICS) + 1) + "|"]
    for family, row in results.items():
        name = f"{family} (unseen)" if family in unseen else family
        cells = ["—" if row[k] is None else (f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]))
                 for k in TABLE_METRICS]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
