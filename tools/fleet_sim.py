"""Capacity model and discrete-event simulation of a fleet: CPU ingest pods feeding a Triton GPU tier.

    .venv/bin/python -m tools.fleet_sim --streams 1000 --gpus 1 --gpus 2 --gpus 3 --out docs/bench/fleet.json

The capacity model turns measured per-stream costs into pod and GPU counts; the simulation (SimPy) then plays
N streams through those pods and GPUs frame by frame: sampled frames queue for a pod's cores (two per stream at
most, drop-oldest, as the daemon does), their faces gather in the pod's micro-batcher, batches cross the network
to the Triton pod the ingest pod is connected to (gRPC keeps one connection), wait in Triton's dynamic batcher
and run on its GPU. Optionally one GPU is lost mid-run: its queued and running requests fail, and its ingest pods
reconnect elsewhere after a backoff, their faces dropped meanwhile. Reported: frame -> score latency quantiles
(an alert is decided on the frame's score), the share of faces and frames dropped, and GPU utilisation.

Every assumption is a field of `Assumptions`, printed with the results; the GPU figures are assumptions until a
GPU run measures them (`tools/triton_bench.py --url` against a GPU Triton).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import simpy


@dataclass(frozen=True)
class Assumptions:
    """The inputs of the model, with where each comes from.

    Attributes:
        analysis_fps: Samples analysed per stream per second (the daemon's default).
        ingest_core_ms_per_stream_s: CPU per stream per second of 720p25 video without the detector: decoding
            ~100, BlazeFace at 5 fps ~35, tracking/cropping/Python/Redis ~70 (docs/performance.md: 9 streams
            on 2 cores measured with the detector's ~16 included).
        ingest_cores: Cores per ingest pod (the StatefulSet's CPU request ... doubled as a limit here).
        ingest_target_utilisation: Headroom kept on ingest pods by the capacity model.
        faces_per_frame: Mean faces per sampled frame (Poisson, at most 4: a conference tile, a broadcast shot).
        batch_max / batch_delay_ms: The daemon's micro-batcher (CPU defaults of `inference.max_batch` / delay).
        network_rtt_ms: Round trip ingest pod <-> Triton pod in one cluster.
        network_gbit_s: Bandwidth per ingest pod; each face is a 160x160x3 uint8 crop (76.8 kB).
        gpu_exec_fixed_ms / gpu_exec_per_face_ms: One Triton execution on one GPU (TensorRT fp16,
            EfficientNet-Lite0 at 160 px with the gated mask decoder): assumed, not measured (no GPU was lent).
        triton_max_batch / triton_queue_delay_ms: The export's dynamic batching (`--max-batch 64 --max-delay-ms 5`).
        gpu_target_utilisation: Headroom kept on GPUs by the capacity model.
        reconnect_s: How long an ingest pod whose Triton pod died drops faces before it reconnects elsewhere
            (the daemon's first retries, plus gRPC reconnecting to the Service's next endpoint).
    """

    analysis_fps: float = 5.0
    ingest_core_ms_per_stream_s: float = 205.0
    ingest_cores: int = 4
    ingest_target_utilisation: float = 0.75
    faces_per_frame: float = 1.0
    batch_max: int = 8
    batch_delay_ms: float = 10.0
    network_rtt_ms: float = 0.5
    network_gbit_s: float = 10.0
    gpu_exec_fixed_ms: float = 1.5
    gpu_exec_per_face_ms: float = 0.15
    triton_max_batch: int = 64
    triton_queue_delay_ms: float = 5.0
    gpu_target_utilisation: float = 0.6
    reconnect_s: float = 1.5

    @property
    def face_bytes(self) -> int:
        """One 160-pixel RGB crop."""
        return 160 * 160 * 3

    def streams_per_pod(self) -> int:
        """Streams one ingest pod carries at the target utilisation."""
        budget = self.ingest_cores * 1000.0 * self.ingest_target_utilisation
        return max(1, math.floor(budget / self.ingest_core_ms_per_stream_s))

    def gpu_faces_per_s(self) -> float:
        """Faces per second one GPU scores at full batches."""
        batch = self.triton_max_batch
        return batch / ((self.gpu_exec_fixed_ms + self.gpu_exec_per_face_ms * batch) / 1000.0)


@dataclass(frozen=True)
class Plan:
    """What the capacity model says N streams need."""

    streams: int
    ingest_pods: int
    faces_per_s: float
    gpus: int


def capacity(streams: int, a: Assumptions) -> Plan:
    """Ingest pods and GPUs for `streams` at the assumptions' targets."""
    pods = math.ceil(streams / a.streams_per_pod())
    faces_per_s = streams * a.analysis_fps * a.faces_per_frame
    gpus = max(1, math.ceil(faces_per_s / (a.gpu_faces_per_s() * a.gpu_target_utilisation)))
    return Plan(streams, pods, faces_per_s, gpus)


@dataclass
class Tally:
    """What one simulation counted."""

    latencies_ms: list[float] = field(default_factory=list)
    frames: int = 0
    frames_dropped: int = 0
    faces: int = 0
    faces_dropped: int = 0
    gpu_busy_s: float = 0.0


@dataclass
class _Request:
    faces: int
    done: simpy.Event
    ok: bool = True


class _Gpu:
    """One Triton pod: a dynamic batcher in front of one GPU."""

    def __init__(self, env: simpy.Environment, a: Assumptions, tally: Tally) -> None:
        self.env, self.a, self.tally = env, a, tally
        self.queue: list[_Request] = []
        self.wakeup = env.event()
        self.alive = True
        self.running: list[_Request] = []
        env.process(self._serve())

    def submit(self, request: _Request) -> None:
        if not self.alive:
            request.ok = False
            request.done.succeed()
            return
        self.queue.append(request)
        if not self.wakeup.triggered:
            self.wakeup.succeed()

    def lose(self) -> None:
        """The pod dies: everything queued or running fails."""
        self.alive = False
        for request in [*self.queue, *self.running]:
            request.ok = False
            if not request.done.triggered:
                request.done.succeed()
        self.queue, self.running = [], []

    def _serve(self) -> Generator[simpy.Event, Any, None]:
        a = self.a
        while self.alive:
            if not self.queue:
                self.wakeup = self.env.event()
                yield self.wakeup
                continue
            if sum(r.faces for r in self.queue) < a.triton_max_batch:
                yield self.env.timeout(a.triton_queue_delay_ms / 1000.0)  # let the batch fill
            batch: list[_Request] = []
            while self.queue and sum(r.faces for r in batch) + self.queue[0].faces <= a.triton_max_batch:
                batch.append(self.queue.pop(0))
            if not batch and self.queue:
                batch.append(self.queue.pop(0))
            faces = sum(r.faces for r in batch)
            self.running = batch
            seconds = (a.gpu_exec_fixed_ms + a.gpu_exec_per_face_ms * faces) / 1000.0
            yield self.env.timeout(seconds)
            if not self.alive:
                return
            self.tally.gpu_busy_s += seconds
            self.running = []
            for request in batch:
                request.done.succeed()


class _Pod:
    """One ingest pod: cores for decoding/detection, a micro-batcher, a gRPC connection to one GPU."""

    def __init__(self, env: simpy.Environment, index: int, gpus: list[_Gpu], a: Assumptions, tally: Tally) -> None:
        self.env, self.index, self.gpus, self.a, self.tally = env, index, gpus, a, tally
        self.cores = simpy.Resource(env, capacity=a.ingest_cores)
        self.pending: list[tuple[int, simpy.Event]] = []  # (faces, done) waiting for the batcher
        self.flush_at: float | None = None
        self.reconnect_until = 0.0
        self.gpu = gpus[index % len(gpus)]

    def frame(self, faces: int, waiting: list[float]) -> Generator[simpy.Event, Any, None]:
        a, env, tally = self.a, self.env, self.tally
        arrived = env.now
        waiting.append(arrived)
        if len(waiting) > 2:  # the stream's queue holds two samples: the oldest goes
            waiting.pop(0)
            tally.frames_dropped += 1
        with self.cores.request() as core:
            yield core
            if arrived not in waiting:
                return  # dropped while it waited
            waiting.remove(arrived)
            yield env.timeout(a.ingest_core_ms_per_stream_s / a.analysis_fps / 1000.0)
        if faces == 0:
            tally.latencies_ms.append((env.now - arrived) * 1000.0)
            return
        done = env.event()
        self.pending.append((faces, done))
        if sum(f for f, _ in self.pending) >= a.batch_max:
            env.process(self._flush())
        elif self.flush_at is None:
            self.flush_at = env.now + a.batch_delay_ms / 1000.0
            env.process(self._flush_later(self.flush_at))
        ok = yield done
        tally.faces += faces
        if ok:
            tally.latencies_ms.append((env.now - arrived) * 1000.0)
        else:
            tally.faces_dropped += faces

    def _flush_later(self, at: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(at - self.env.now)
        if self.flush_at == at:
            yield from self._flush()

    def _flush(self) -> Generator[simpy.Event, Any, None]:
        a, env = self.a, self.env
        batch, self.pending, self.flush_at = self.pending, [], None
        if not batch:
            return
        faces = sum(f for f, _ in batch)
        if env.now < self.reconnect_until:
            for _, done in batch:
                done.succeed(False)
            return
        if not self.gpu.alive:
            self.reconnect_until = env.now + a.reconnect_s
            alive = [g for g in self.gpus if g.alive]
            if alive:
                self.gpu = alive[self.index % len(alive)]
            for _, done in batch:
                done.succeed(False)
            return
        transfer = faces * a.face_bytes * 8 / (a.network_gbit_s * 1e9)
        yield env.timeout(a.network_rtt_ms / 2000.0 + transfer)
        request = _Request(faces, env.event())
        self.gpu.submit(request)
        yield request.done
        yield env.timeout(a.network_rtt_ms / 2000.0)
        if not request.ok:
            self.reconnect_until = env.now + a.reconnect_s
        for _, done in batch:
            done.succeed(request.ok)


def simulate(
    streams: int, pods: int, gpus: int, a: Assumptions, seconds: float, lose_gpu_at: float | None, seed: int = 0
) -> dict[str, Any]:
    """Play `streams` for `seconds` of simulated time; returns latency quantiles, drops and GPU utilisation."""
    env = simpy.Environment()
    rng = random.Random(seed)
    faces_rng = np.random.default_rng(seed)
    tally = Tally()
    tier = [_Gpu(env, a, tally) for _ in range(gpus)]
    fleet = [_Pod(env, i, tier, a, tally) for i in range(pods)]

    def stream(index: int) -> Generator[simpy.Event, Any, None]:
        pod = fleet[index % pods]  # rendezvous hashing spreads streams evenly; round robin is the same load
        waiting: list[float] = []
        yield env.timeout(rng.uniform(0, 1.0 / a.analysis_fps))
        while True:
            tally.frames += 1
            env.process(pod.frame(min(4, int(faces_rng.poisson(a.faces_per_frame))), waiting))
            yield env.timeout(1.0 / a.analysis_fps)

    def lose() -> Generator[simpy.Event, Any, None]:
        assert lose_gpu_at is not None  # noqa: S101 - only scheduled with a time
        yield env.timeout(lose_gpu_at)
        tier[0].lose()

    for index in range(streams):
        env.process(stream(index))
    if lose_gpu_at is not None:
        env.process(lose())
    env.run(until=seconds)
    latencies = np.array(tally.latencies_ms)
    quantiles = np.percentile(latencies, [50, 95, 99]) if len(latencies) else [float("nan")] * 3
    return {
        "streams": streams,
        "ingest_pods": pods,
        "gpus": gpus,
        "gpu_lost_at_s": lose_gpu_at,
        "frame_to_score_ms": {
            "p50": round(quantiles[0], 1),
            "p95": round(quantiles[1], 1),
            "p99": round(quantiles[2], 1),
        },
        "frames_dropped_pct": round(100.0 * tally.frames_dropped / max(1, tally.frames), 3),
        "faces_dropped_pct": round(100.0 * tally.faces_dropped / max(1, tally.faces), 3),
        "gpu_utilisation_pct": round(100.0 * tally.gpu_busy_s / (gpus * seconds), 1),
    }


def main() -> None:
    """Print and write the capacity plan and the simulated table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--gpus", type=int, action="append", default=None, help="GPU counts to simulate.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Simulated time per run.")
    parser.add_argument("--lose-gpu-at", type=float, default=15.0, help="Also run each case losing one GPU then.")
    parser.add_argument("--out", type=Path, default=Path("runs/fleet/fleet.json"))
    args = parser.parse_args()
    a = Assumptions()
    plan = capacity(args.streams, a)
    per_pod, per_gpu = a.streams_per_pod(), a.gpu_faces_per_s()
    print(f"capacity model: {plan}; {per_pod} streams per ingest pod, {per_gpu:.0f} faces/s per GPU")
    rows = []
    for gpus in args.gpus or [plan.gpus, plan.gpus + 1]:
        for lose_at in (None, args.lose_gpu_at):
            if lose_at is not None and gpus < 2:
                continue
            row = simulate(args.streams, plan.ingest_pods, gpus, a, args.seconds, lose_at)
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"assumptions": asdict(a), "plan": asdict(plan), "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
