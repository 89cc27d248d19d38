"""CPU per decoded frame with FFmpeg's frame threads (the daemon's ``thread_type AUTO``) against one thread per decoder.

    python -m tools.decode_threads --streams 2 8 --rounds 2

Decodes the bench's camera-like 720p25 clip in N parallel threads, alternating the two settings, and prints
core-milliseconds per frame (process CPU time) and frames per second.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import av

from streamguard.bench.scenarios import bench_clips, timed_threads


def cpu_seconds() -> float:
    """User plus system CPU time of this process."""
    times = os.times()
    return times.user + times.system


def decode(clip: Path, streams: int, frame_threads: bool) -> tuple[float, float]:
    """``(core-ms per frame, frames per second)`` decoding `clip` in `streams` parallel threads."""
    counts = [0] * streams

    def one(index: int) -> None:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            if frame_threads:
                stream.thread_type = "AUTO"
            else:
                stream.codec_context.thread_count = 1
            for _ in container.decode(stream):
                counts[index] += 1

    cpu_before = cpu_seconds()
    seconds = timed_threads(one, streams)
    frames = sum(counts)
    return 1000 * (cpu_seconds() - cpu_before) / frames, frames / seconds


def main() -> None:
    """Print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"))
    args = parser.parse_args()
    clip = bench_clips(args.workdir / "clips", n=1, seconds=12.0)[0]
    for streams in args.streams:
        for _ in range(args.rounds):
            for frame_threads in (True, False):
                ms, fps = decode(clip, streams, frame_threads)
                name = "frame threads (AUTO)" if frame_threads else "one thread"
                print(f"{streams} streams, {name}: {ms:.2f} core-ms/frame, {fps:.0f} fps", flush=True)


if __name__ == "__main__":
    main()
