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

from streamguard.ingest import FileSource, SourceEnded
from tests.support.fuzz import MUTATIONS, SEED_FORMATS, mutate, run_mutant, write_seed_clip, write_ts_segment

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


async def switched_stream_sizes(tmp_path: Path, encoder: str, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Frame sizes the file source delivers from a 160x120 H.264 segment followed by another segment."""
    first = write_ts_segment(tmp_path / "a.ts", "libx264", (160, 120))
    then = write_ts_segment(tmp_path / "b.ts", encoder, size)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + then.read_bytes())
    source = FileSource("switch", str(joined), analysis_fps=100.0, realtime=False, loop=False, queue_size=64)
    await source.start()
    sizes: list[tuple[int, int]] = []
    try:
        with pytest.raises(SourceEnded):
            while True:
                frame = await asyncio.wait_for(source.recv(), 20)
                sizes.append((frame.image.shape[1], frame.image.shape[0]))
    finally:
        await source.close()
    return sizes


async def test_a_stream_that_changes_size_mid_way_keeps_delivering_at_the_new_size(tmp_path: Path) -> None:
    """Two MPEG-TS segments back to back (a camera reconfigured mid-stream): frames of both sizes come through."""
    sizes = await switched_stream_sizes(tmp_path, "libx264", (640, 360))
    switch = sizes.index((640, 360))
    assert set(sizes[:switch]) == {(160, 120)} and set(sizes[switch:]) == {(640, 360)}
    assert switch >= 15 and len(sizes) - switch >= 20


async def test_a_codec_switch_mid_stream_ends_the_source_cleanly(tmp_path: Path) -> None:
    """A different codec after the first segment is a new elementary stream: it is not followed (a limitation,
    documented), but the source delivers the first part and ends cleanly instead of failing or hanging."""
    sizes = await switched_stream_sizes(tmp_path, "mpeg4", (320, 240))
    assert set(sizes) == {(160, 120)} and len(sizes) >= 15
