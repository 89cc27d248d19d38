"""Hostile media through the file source: seeded mutations of H.264/MP4, VP8/WebM and MJPEG/AVI files.

Every damaged file must end its source with `SourceEnded` (frames or a reported error, never another
exception, never a hang), and a healthy stream beside them keeps delivering. The long version with hundreds of
mutations and an RSS measurement is ``python -m tools.fuzz_media``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from streamguard.ingest import FileSource
from tests.support.fuzz import MUTATIONS, SEED_FORMATS, mutate, run_mutant, write_seed_clip

MUTANTS_PER_FORMAT = 14  # two of each mutation kind: the suite's share; tools/fuzz_media.py runs hundreds


@pytest.mark.parametrize("seed_name", sorted(SEED_FORMATS))
async def test_damaged_files_end_cleanly_and_a_healthy_stream_keeps_flowing(seed_name: str, tmp_path: Path) -> None:
    seed = write_seed_clip(tmp_path / f"seed-{seed_name}")
    clean = await run_mutant(seed, "none")
    assert clean.frames >= 20 and clean.error == "", clean
    data = seed.read_bytes()
    rng = np.random.default_rng(sum(map(ord, seed_name)))
    healthy = FileSource("healthy", str(seed), analysis_fps=100.0, realtime=True, loop=True, queue_size=4)
    await healthy.start()
    try:
        outcomes = []
        for i in range(MUTANTS_PER_FORMAT):
            kind = MUTATIONS[i % len(MUTATIONS)]
            mutant = tmp_path / f"mutant{i:02d}-{kind}{seed.suffix}"
            mutant.write_bytes(mutate(data, rng, kind))
            outcomes.append(await run_mutant(mutant, kind))
            assert (await asyncio.wait_for(healthy.recv(), 5)).image.size > 0  # the other stream is untouched
        # Damage shows: some mutants lose frames or report an error (the mutations are not no-ops).
        assert any(o.error or o.frames < clean.frames for o in outcomes), outcomes
        for outcome in outcomes:
            assert outcome.frames > 0 or outcome.error, outcome  # nothing delivered is always explained
    finally:
        await healthy.close()
