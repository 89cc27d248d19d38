"""Which self-blends does a detector catch? Its test-people scores with the source resampled vs sharpened.

The SBI recipe perturbs the blended-in source either by down-and-up scaling (the trace of a face rendered at
a lower resolution, as face swaps are) or by sharpening, with even odds. This script forges the model card's
self-blend test set twice, forcing each branch, and evaluates the checkpoint on both (same people, seed and
stream realism as `streamguard eval-families`).

Usage: .venv/bin/python tools/self_blend_kinds.py CHECKPOINT [OUT_DIR] [N]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np

from streamguard.evaluate.families import TABLE_METRICS
from streamguard.evaluate.runner import EvalOptions, evaluate_dataset
from streamguard.forge import families
from streamguard.forge.perturb import perturb_source
from streamguard.forge.writer import run_forge
from streamguard.model.detector import Detector

REAL = Path("../shared/data/real_faces")
SEED = 1234  # eval-families' default


def _forced(resample: bool) -> Callable[[np.ndarray, np.random.Generator, float, bool | None], np.ndarray]:
    original = perturb_source  # what `families` calls (it imports it from `streamguard.forge.perturb`)

    def perturb(image: np.ndarray, rng: np.random.Generator, face_px: float, _: bool | None = None) -> np.ndarray:
        return original(image, rng, face_px, resample)

    return perturb


def main() -> None:
    """Forge both test sets (once), evaluate the checkpoint on each, print and write `kinds.json`."""
    checkpoint = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else checkpoint.parent / "self_blend_kinds"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    detector = Detector.load(checkpoint, device="cpu")
    results = {}
    for kind, resample in (("resampled", True), ("sharpened", False)):
        folder = out / kind
        if not (folder / "labels.json").exists():
            with mock.patch.object(families, "perturb_source", _forced(resample)):  # restored on exit
                run_forge(REAL, folder, n, SEED, ["self_blend"], "test", cache_dir=Path("runs/face_cache"))
        report = evaluate_dataset(detector, folder, EvalOptions(frames_per_video=8))
        results[kind] = {key: report.get(key) for key in TABLE_METRICS}
        print(kind, json.dumps(results[kind]))
    (out / "kinds.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
