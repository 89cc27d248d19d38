"""Hostile media, the long run: hundreds of seeded mutations per codec through the file source (outside CI).

    .venv/bin/python -m tools.fuzz_media --mutants 200 --out runs/fuzz/fuzz.json

Each mutant must end its source with `SourceEnded` within the time limit; anything else (another exception, a
hang) stops the run with the mutant's file kept for replay. The report counts outcomes per codec and mutation
and measures this process's resident memory before and after, to show that damaged media leaks nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.bench.scenarios import rss_mb
from tests.support.fuzz import MUTATIONS, SEED_FORMATS, mutate, run_mutant, write_seed_clip


def _keep_for_replay(mutant: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(mutant, keep / mutant.name)


async def fuzz(mutants: int, seed: int, work: Path, keep: Path) -> dict[str, Any]:
    """Run `mutants` mutants of every seed clip; returns the report."""
    report: dict[str, Any] = {"mutants_per_format": mutants, "seed": seed, "formats": {}}
    rss_start: float | None = None
    for name in sorted(SEED_FORMATS):
        clip = write_seed_clip(work / f"seed-{name}")
        data = clip.read_bytes()
        rng = np.random.default_rng([seed, sum(map(ord, name))])
        outcomes: Counter[str] = Counter()
        slowest = 0.0
        for i in range(mutants):
            kind = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
            mutant = work / f"mutant-{i:04d}-{kind}{clip.suffix}"
            mutant.write_bytes(mutate(data, rng, kind))
            try:
                outcome = await run_mutant(mutant, kind)
            except BaseException:
                _keep_for_replay(mutant, keep)
                raise
            outcomes[f"{kind}:{'error' if outcome.error else 'frames' if outcome.frames else 'empty'}"] += 1
            slowest = max(slowest, outcome.seconds)
            mutant.unlink()
            if rss_start is None:
                rss_start = rss_mb()  # after the first mutant: the decoders' libraries are loaded
        report["formats"][name] = {"outcomes": dict(sorted(outcomes.items())), "slowest_s": round(slowest, 3)}
    report["rss_mb_after_first"] = round(rss_start or float("nan"), 1)
    report["rss_mb_end"] = round(rss_mb(), 1)
    return report


def main() -> None:
    """Run the fuzz and write its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=int, default=200, help="Mutants per codec.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/fuzz/fuzz.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        report = asyncio.run(fuzz(args.mutants, args.seed, Path(work), args.out.parent / "failures"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
