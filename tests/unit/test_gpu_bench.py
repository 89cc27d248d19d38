"""`tools.gpu_bench` runs once on a lent GPU with little time: its CPU parts are checked here first."""

from __future__ import annotations

from pathlib import Path

from tools.gpu_bench import decode_figures, write_1080p_clip


def test_decode_figures_count_the_frames_the_threads_decoded(tmp_path: Path) -> None:
    clip = tmp_path / "camera.mp4"
    write_1080p_clip(clip, seconds=0.4)
    figures = decode_figures(clip, streams=2)
    assert figures["parallel_streams"] == 2
    assert figures["cpu_fps"] > 0 and figures["cpu_streams_realtime"] > 0
    assert "nvdec_fps" in figures or figures["nvdec"].startswith(("skipped", "failed"))
