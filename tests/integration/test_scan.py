"""`streamguard scan`: recordings through the daemon's pipeline, into a report (and optionally a real Redis)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import redis.asyncio as aioredis
import yaml

from streamguard.config import DaemonConfig
from streamguard.daemon.scan import STILL_IMAGE_REASON, Scanner, collect_media, label_of, summarize
from streamguard.datasets.toy import astronaut_rgb
from streamguard.demo.clip import ClipTruth, write_demo_clip
from streamguard.model.detector import Detector
from tests.support.daemon_checks import alert_entries
from tests.support.media import write_garbage
from tests.support.redis_server import RedisServer

FORGED_SPAN = (2.0, 6.0)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ClipTruth]:
    """``fake/``: a clip forged from 2 to 6 s and a garbage file; ``real/``: a clean clip and a still photo."""
    root = tmp_path_factory.mktemp("recordings")
    (root / "fake").mkdir()
    (root / "real" / "photos").mkdir(parents=True)
    forged = write_demo_clip(root / "fake" / "forged.mp4", seconds=8, forged_span=FORGED_SPAN, seed=31)
    write_demo_clip(root / "real" / "clean.mp4", seconds=6, forged_span=None, seed=32)
    write_garbage(root / "fake" / "garbage.mp4")
    cv2.imwrite(str(root / "real" / "photos" / "astronaut.jpg"), cv2.cvtColor(astronaut_rgb(), cv2.COLOR_RGB2BGR))
    (root / "real" / "notes.txt").write_text("not media")
    return root, forged


def test_collect_media_and_labels(recordings: tuple[Path, ClipTruth]) -> None:
    root, _ = recordings
    files = collect_media([root])
    assert [f.relative_to(root).as_posix() for f in files] == [
        "fake/forged.mp4", "fake/garbage.mp4", "real/clean.mp4", "real/photos/astronaut.jpg",
    ]  # fmt: skip
    assert [label_of(f) for f in files] == ["fake", "fake", "real", "real"]
    assert label_of(Path("/x/clip.mp4")) is None
    with pytest.raises(FileNotFoundError, match="nope"):
        collect_media([root / "nope"])


async def test_scan_alerts_on_the_forged_part_only_and_lists_the_broken_file(
    recordings: tuple[Path, ClipTruth], demo_model_path: Path, redis_server: RedisServer
) -> None:
    root, _ = recordings
    config = DaemonConfig.model_validate({"inference": {"model": str(demo_model_path), "device": "cpu"}})
    detector = Detector.load(demo_model_path, device="cpu")
    done: list[str] = []
    scanner = Scanner(config, detector, concurrency=2, redis_url=redis_server.url)
    results = await scanner.scan(collect_media([root]), on_done=lambda r: done.append(r.path))
    by_name = {Path(r.path).name: r for r in results}
    assert sorted(done) == sorted(r.path for r in results)

    forged = by_name["forged.mp4"]
    assert forged.error is None and forged.kind == "video" and forged.frames_analyzed >= 30
    assert len(forged.alerts) == 1
    alert = forged.alerts[0]
    # Media times: the alert opens inside the forged span (after min_duration_s) and ends after it.
    assert FORGED_SPAN[0] < alert.start_s < FORGED_SPAN[1]
    assert alert.end_s > FORGED_SPAN[1] - 0.5 and alert.end_s > alert.start_s
    assert alert.peak >= config.scoring.on_threshold
    assert alert.reason in {"below_threshold", "track_lost"}

    assert by_name["clean.mp4"].alerts == [] and by_name["clean.mp4"].max_p is not None
    garbage = by_name["garbage.mp4"]
    assert garbage.error and garbage.alerts == [] and garbage.frames_analyzed == 0

    photo = by_name["astronaut.jpg"]
    assert photo.kind == "image" and photo.error is None and photo.frames_analyzed == 1
    assert photo.max_p is not None
    assert (photo.alerts != []) == (photo.max_p >= config.scoring.on_threshold)
    assert all(a.reason == STILL_IMAGE_REASON for a in photo.alerts)

    summary = summarize(results)
    assert summary["fake"] == {"n": 1, "alerted": 1, "share": 1.0}
    assert summary["real_video"] == {"n": 1, "alerted": 0, "share": 0.0}
    assert summary["n_errors"] == 1

    # --redis: the same alert's events in a real Redis, as the daemon publishes them.
    client = aioredis.from_url(redis_server.url)
    try:
        entries = await alert_entries(client)
    finally:
        await client.aclose()
    events = [e["event"] for e in entries]
    assert events[0] == "start" and events[-1] == "end" and set(events[1:-1]) <= {"update"}
    assert {e["alert_id"] for e in entries} == {alert.alert_id}


def test_cli_writes_json_and_csv_and_exits_0(
    recordings: tuple[Path, ClipTruth], demo_model_path: Path, tmp_path: Path
) -> None:
    root, _ = recordings
    config = tmp_path / "scan.yaml"
    config.write_text(yaml.safe_dump({"inference": {"model": str(demo_model_path), "device": "cpu"}}))
    run = subprocess.run(
        [sys.executable, "-m", "streamguard", "scan", str(root / "fake"), str(root / "real" / "clean.mp4"),
         "--config", str(config), "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "fake: 1 of 1 files raised an alert" in run.stdout
    assert "real: 0 of 1 files raised an alert" in run.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert set(files) == {"forged.mp4", "garbage.mp4", "clean.mp4"}
    assert files["forged.mp4"]["label"] == "fake" and len(files["forged.mp4"]["alerts"]) == 1
    assert {"start_s", "end_s", "peak"} <= set(files["forged.mp4"]["alerts"][0])
    assert files["garbage.mp4"]["error"] and files["clean.mp4"]["error"] is None
    assert report["summary"]["n_errors"] == 1 and report["model"].startswith(demo_model_path.stem)
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert sorted(Path(r["path"]).name for r in rows) == ["clean.mp4", "forged.mp4", "garbage.mp4"]
    assert next(r for r in rows if r["path"].endswith("forged.mp4"))["alert_id"]
