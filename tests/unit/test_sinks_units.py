"""Units of the sinks package that need no server: spool, wire encodings, metrics."""

from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from streamguard.errors import AlertEntryError
from streamguard.sinks.encoding import (
    ALERT_FIELDS,
    AlertEntry,
    decode_entry,
    decode_jpeg,
    decode_mask_png,
    mask_png,
    overlay_jpeg,
)
from streamguard.sinks.metrics import METRIC_NAMES, Metrics
from streamguard.sinks.spool import Spool, SpoolRecord
from streamguard.types import AlertPhase, EndReason
from tests.support.alert_events import make_event, make_score


def record(n: int, stream_id: str = "cam1", blob: bytes = b"") -> SpoolRecord:
    blobs = {f"k:{n}": blob} if blob else {}
    return SpoolRecord(f"id{n:04d}", {"stream_id": stream_id, "alert_id": f"a{n}", "event": "start"}, blobs, 1.0)


def spooled_ids(spool: Spool) -> list[str]:
    batch = spool.begin_batch(10_000)
    spool.abort_batch()
    return [r.record_id for r in batch]


# -- spool ------------------------------------------------------------------------------------------------


def test_spool_drops_oldest_when_full_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(3)
    dropped = [r.record_id for n in range(5) for r in spool.append(record(n))]
    assert dropped == ["id0000", "id0001"]
    assert spool.depth == 3
    assert spool.dropped == 2
    assert spooled_ids(spool) == ["id0002", "id0003", "id0004"]
    assert "dropped the oldest pending event of stream cam1" in caplog.text


def test_spool_bounded_by_bytes_drops_the_oldest_counts_them_and_keeps_the_newest(tmp_path: Path) -> None:
    size = len(record(0, blob=b"x" * 3000).to_json())
    spool = Spool(1000, tmp_path / "spool.jsonl", max_bytes=3 * size)
    dropped = [r.record_id for n in range(5) for r in spool.append(record(n, blob=b"x" * 3000))]
    assert dropped == ["id0000", "id0001"] and spool.dropped == 2
    assert spooled_ids(spool) == ["id0002", "id0003", "id0004"] and spool.bytes == 3 * size
    huge = record(9, blob=b"y" * 50_000)
    assert [r.record_id for r in spool.append(huge)] == ["id0002", "id0003", "id0004"]
    assert spooled_ids(spool) == ["id0009"]  # one record larger than the bound still goes through
    spool.commit_through(1)
    assert spool.bytes == 0 and spool.depth == 0
    for n in range(3):
        spool.append(record(n, blob=b"x" * 3000))
    spool.close()
    restored = Spool(1000, tmp_path / "spool.jsonl", max_bytes=2 * size)  # a smaller bound applies on replay
    assert spooled_ids(restored) == ["id0001", "id0002"] and restored.bytes == 2 * size


def test_spool_never_drops_records_in_flight() -> None:
    spool = Spool(3)
    for n in range(3):
        spool.append(record(n))
    batch = spool.begin_batch(2)
    assert [r.record_id for r in batch] == ["id0000", "id0001"]
    dropped = spool.append(record(3))
    assert [r.record_id for r in dropped] == ["id0002"]
    spool.commit_batch()
    assert spooled_ids(spool) == ["id0003"]
    assert spool.dropped == 1


def test_spool_abort_keeps_order_for_retry() -> None:
    spool = Spool(10)
    for n in range(4):
        spool.append(record(n))
    spool.begin_batch(3)
    spool.abort_batch()
    assert [r.record_id for r in spool.begin_batch(10)] == ["id0000", "id0001", "id0002", "id0003"]


def test_spool_remove_written_removes_head_prefix_only() -> None:
    spool = Spool(10)
    for n in range(4):
        spool.append(record(n))
    removed = spool.remove_written({"id0000", "id0001", "id0003"})
    assert [r.record_id for r in removed] == ["id0000", "id0001"]
    assert spooled_ids(spool) == ["id0002", "id0003"]


def test_spool_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError, match="max_events"):
        Spool(0)


def test_spool_disk_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "alerts.jsonl"
    spool = Spool(100, path)
    for n in range(5):
        spool.append(record(n, blob=bytes([n]) * 300))
    spool.begin_batch(2)
    spool.commit_batch()
    spool.close()

    restored = Spool(100, path)
    assert spooled_ids(restored) == ["id0002", "id0003", "id0004"]
    batch = restored.begin_batch(10)
    assert batch[0].blobs == {"k:2": bytes([2]) * 300}
    assert batch[0].fields == {"stream_id": "cam1", "alert_id": "a2", "event": "start"}
    restored.commit_batch()
    restored.close()
    assert path.read_text() == "", "an empty spool leaves an empty file"
    assert Spool(100, path).depth == 0


def test_spool_disk_skips_a_torn_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "alerts.jsonl"
    spool = Spool(100, path)
    for n in range(3):
        spool.append(record(n))
    spool.close()
    with path.open("a") as f:
        f.write('{"op": "add", "id": "id9999", "fields": {')  # the process died mid-write
    restored = Spool(100, path)
    assert spooled_ids(restored) == ["id0000", "id0001", "id0002"]
    assert "unreadable" in caplog.text


def test_spool_restore_applies_a_smaller_capacity(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    spool = Spool(100, path)
    for n in range(6):
        spool.append(record(n))
    spool.close()
    restored = Spool(4, path)
    assert spooled_ids(restored) == ["id0002", "id0003", "id0004", "id0005"]
    assert restored.dropped == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    capacity=st.integers(1, 6),
    ops=st.lists(st.one_of(st.just(("add", 0)), st.tuples(st.just("write"), st.integers(1, 4))), max_size=40),
)
def test_spool_matches_a_bounded_fifo_model_and_survives_reopen(
    tmp_path: Path, capacity: int, ops: list[tuple[str, int]]
) -> None:
    path = tmp_path / f"model-{capacity}-{len(ops)}-{abs(hash(tuple(ops)))}.jsonl"
    path.unlink(missing_ok=True)
    spool = Spool(capacity, path)
    model: deque[str] = deque()
    dropped = 0
    next_id = 0
    for op, n in ops:
        if op == "add":
            spool.append(record(next_id))
            model.append(f"id{next_id:04d}")
            next_id += 1
            while len(model) > capacity:
                model.popleft()
                dropped += 1
        else:
            batch = spool.begin_batch(n)
            assert [r.record_id for r in batch] == list(model)[:n]
            spool.commit_batch()
            for _ in batch:
                model.popleft()
    assert spooled_ids(spool) == list(model)
    assert spool.dropped == dropped
    spool.close()
    assert spooled_ids(Spool(capacity, path)) == list(model)


# -- images -----------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), height=st.integers(1, 80), width=st.integers(1, 80))
def test_mask_png_decodes_to_the_same_mask_quantised(seed: int, height: int, width: int) -> None:
    mask = np.random.default_rng(seed).random((height, width), dtype=np.float32)
    decoded = decode_mask_png(mask_png(mask))
    assert decoded.shape == (height, width)
    assert np.max(np.abs(decoded - mask)) <= 0.5 / 255 + 1e-6


def test_mask_png_is_8bit_grayscale_and_clips() -> None:
    from io import BytesIO

    from PIL import Image

    data = mask_png(np.array([[-1.0, 0.5], [2.0, np.nan]], dtype=np.float32))
    with Image.open(BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.mode == "L"
        assert np.asarray(image).tolist() == [[0, 128], [255, 0]]


def test_mask_png_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="mask must be"):
        mask_png(np.zeros((4, 4, 3), dtype=np.float32))


def test_overlay_jpeg_is_red_where_mask_high_and_untouched_elsewhere() -> None:
    crop = np.full((64, 64, 3), 128, dtype=np.uint8)
    mask = np.zeros((64, 64), dtype=np.float32)
    mask[:, :32] = 1.0
    mask[:, 32:40] = 0.4  # below the 0.5 threshold: no tint
    image = decode_jpeg(overlay_jpeg(crop, mask)).astype(int)
    assert image.shape == (64, 64, 3)
    tinted = image[8:56, 4:28]
    assert tinted[..., 0].mean() > 190
    assert tinted[..., 1].mean() < 80
    assert tinted[..., 2].mean() < 80
    plain = image[8:56, 44:60]
    assert np.abs(plain - 128).max() <= 6


def test_overlay_alpha_grows_with_mask() -> None:
    crop = np.full((32, 96, 3), 100, dtype=np.uint8)
    mask = np.zeros((32, 96), dtype=np.float32)
    mask[:, :48] = 0.6
    mask[:, 48:] = 1.0
    image = decode_jpeg(overlay_jpeg(crop, mask)).astype(int)
    weak, strong = image[8:24, 8:40], image[8:24, 56:88]
    assert strong[..., 0].mean() > weak[..., 0].mean() + 15
    assert weak[..., 0].mean() > 120


def test_overlay_resizes_a_mask_of_another_size() -> None:
    crop = np.full((64, 64, 3), 128, dtype=np.uint8)
    mask = np.zeros((16, 16), dtype=np.float32)
    mask[:, :8] = 1.0
    image = decode_jpeg(overlay_jpeg(crop, mask)).astype(int)
    assert image[:, :24, 0].mean() > 190
    assert image[:, 40:, 0].mean() < 140


# -- alert fields -----------------------------------------------------------------------------------------


def test_alert_entry_round_trips_exactly_through_redis_bytes() -> None:
    event = make_event(AlertPhase.UPDATE, sequence=3, score=0.8123456789)
    entry = AlertEntry.from_event(
        event, "p:mask:a:3", "p:overlay:a:3", crop_key="p:crop:a:3", history_key="p:history:a"
    )
    fields = entry.to_fields()
    assert tuple(fields) == ALERT_FIELDS
    assert all(isinstance(v, str) for v in fields.values())
    raw = {k.encode(): v.encode() for k, v in fields.items()}  # what XREAD returns
    parsed = AlertEntry.from_fields(raw)
    assert parsed == entry
    assert parsed.to_fields() == fields
    assert event.peak is not None
    assert parsed == AlertEntry(
        event=AlertPhase.UPDATE,
        alert_id=event.alert_id,
        stream_id="cam1",
        track_id=1,
        sequence=3,
        ts=event.ts,
        opened_at=event.opened_at,
        score=0.8123456789,
        peak_score=event.peak_score,
        window_s=2.0,
        n_samples=10,
        reason=None,
        bbox=(100.5, 50.25, 180, 130),
        crop_box=(88, 38, 104, 104),
        frame_size=(640, 360),
        mask_key="p:mask:a:3",
        overlay_key="p:overlay:a:3",
        crop_key="p:crop:a:3",
        history_key="p:history:a",
        model="test-model-1",
    )
    assert fields["bbox"] == "[100.5,50.25,180,130]"  # whole numbers without a fraction
    typed = decode_entry(raw)  # the lenient reader agrees with the typed one
    assert typed["bbox"] == [100.5, 50.25, 180, 130] and typed["track_id"] == 1 and typed["score"] == 0.8123456789


def test_end_event_without_peak_has_empty_structured_fields() -> None:
    event = make_event(AlertPhase.END, with_peak=False, reason=EndReason.TRACK_LOST)
    entry = AlertEntry.from_event(event, "", "")
    fields = entry.to_fields()
    assert fields["bbox"] == fields["frame_size"] == fields["model"] == ""
    parsed = AlertEntry.from_fields(fields)
    assert parsed == entry
    assert parsed.bbox is None and parsed.crop_box is None and parsed.frame_size is None
    assert parsed.reason is EndReason.TRACK_LOST
    assert parsed.event is AlertPhase.END
    assert decode_entry(fields)["bbox"] is None


def test_end_event_takes_box_from_the_given_peak() -> None:
    peak = make_score()
    fields = AlertEntry.from_event(make_event(AlertPhase.END, with_peak=False), "m", "o", peak=peak).to_fields()
    assert json.loads(fields["bbox"]) == [100.5, 50.25, 180, 130]
    assert fields["model"] == "test-model-1"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("track_id", "x", r"field 'track_id' is malformed: 'x'"),
        ("event", "ack", r"field 'event' is malformed: 'ack'"),
        ("reason", "exploded", r"field 'reason' is malformed: 'exploded'"),
        ("ts", "yesterday", r"field 'ts' is malformed: 'yesterday'"),
        ("bbox", "[1,", r"field 'bbox' is malformed: '\[1,'"),
        ("bbox", "[1,2,3]", r"field 'bbox' is malformed: .*list of 4 numbers"),
        ("crop_box", '{"x":1}', r"field 'crop_box' is malformed"),
        ("frame_size", "[640.5,360]", r"field 'frame_size' is malformed: .*integers"),
    ],
)
def test_malformed_entry_is_a_clear_error(field: str, value: str, message: str) -> None:
    fields = AlertEntry.from_event(make_event(AlertPhase.END, reason=EndReason.SHUTDOWN), "", "").to_fields()
    with pytest.raises(AlertEntryError, match=message):
        AlertEntry.from_fields({**fields, field: value})


def test_entry_missing_fields_is_a_clear_error_and_unknown_fields_are_ignored() -> None:
    fields = AlertEntry.from_event(make_event(), "m", "o").to_fields()
    with pytest.raises(AlertEntryError, match=r"lacks the field\(s\) n_samples, model"):
        AlertEntry.from_fields({k: v for k, v in fields.items() if k not in {"n_samples", "model"}})
    with pytest.raises(AlertEntryError, match="lacks"):  # an operator entry is no alert entry
        AlertEntry.from_fields({"event": "ack", "alert_id": "a", "by": "ada"})
    assert AlertEntry.from_fields({**fields, "future_field": "42"}) == AlertEntry.from_fields(fields)


def test_decode_entry_keeps_unknown_and_malformed_values_as_text() -> None:
    parsed = decode_entry({b"track_id": b"x", b"future_field": b"42", "bbox": "[1,"})
    assert parsed == {"track_id": "x", "future_field": "42", "bbox": "[1,"}


@given(
    ts=st.floats(0, 4e9, allow_nan=False),
    score=st.floats(0, 1),
    track_id=st.integers(0, 2**40),
)
def test_numbers_survive_the_round_trip_exactly(ts: float, score: float, track_id: int) -> None:
    event = make_event(ts=ts, score=score, track_id=track_id, with_peak=False)
    entry = AlertEntry.from_event(event, "", "")
    parsed = AlertEntry.from_fields(entry.to_fields())
    assert parsed == entry
    assert parsed.ts == ts
    assert parsed.score == score
    assert parsed.track_id == track_id


@pytest.mark.parametrize("score", [float("nan"), float("inf")])
def test_non_finite_score_is_written_as_nan(score: float) -> None:
    fields = AlertEntry.from_event(make_event(score=score, with_peak=False), "", "").to_fields()
    assert fields["score"] == "nan"
    assert math.isnan(AlertEntry.from_fields(fields).score)


# -- metrics ----------------------------------------------------------------------------------------------

ALLOWED_LABELS = {"stream", "reason", "event", "version", "python", "le", "result"}


def touch_all(metrics: Metrics, stream: str) -> None:
    for kind in ("decoded", "sampled", "reconnect", "stall", "error", "up"):
        metrics.record_source_event(stream, kind)
    metrics.record_source_event(stream, "dropped", reason="analysis_behind", count=3)
    metrics.faces_detected.labels(stream=stream).inc(2)
    metrics.face_detector_runs.labels(stream=stream, reason="scheduled").inc()
    metrics.faces_unscored.labels(stream=stream).inc()
    metrics.worker_restarts.labels(stream=stream).inc()
    metrics.alerts.labels(stream=stream, event="start").inc()
    metrics.active_tracks.labels(stream=stream).set(2)
    metrics.open_alerts.labels(stream=stream).set(1)
    metrics.inference_batch_size.observe(8)
    metrics.inference_seconds.observe(0.01)
    metrics.e2e_latency_seconds.observe(0.2)
    metrics.alert_latency_seconds.observe(1.2)
    metrics.inference_queue_depth.set(4)
    metrics.inference_errors.labels(stream=stream, reason="unavailable").inc()
    metrics.sink_spool_depth.set(0)
    metrics.sink_dropped.inc(0)
    metrics.sink_published.inc()
    metrics.set_model_version("v1")


def test_every_metric_name_is_rendered() -> None:
    metrics = Metrics()
    touch_all(metrics, "cam1")
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    sample_names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    for name in METRIC_NAMES:
        assert name.startswith("streamguard_")
        assert name in sample_names or f"{name}_count" in sample_names, name
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)


def test_metric_names_match_the_issue() -> None:
    required = {
        "streamguard_frames_decoded_total",
        "streamguard_frames_analyzed_total",
        "streamguard_frames_dropped_total",
        "streamguard_faces_detected_total",
        "streamguard_stream_up",
        "streamguard_stream_reconnects_total",
        "streamguard_inference_batch_size",
        "streamguard_inference_seconds",
        "streamguard_e2e_latency_seconds",
        "streamguard_alerts_total",
        "streamguard_sink_spool_depth",
        "streamguard_sink_dropped_total",
        "streamguard_active_tracks",
    }
    assert required <= set(METRIC_NAMES)


def test_no_track_id_in_any_label() -> None:
    metrics = Metrics()
    touch_all(metrics, "cam1")
    text = metrics.render()[0].decode()
    labels = {label for family in text_string_to_metric_families(text) for s in family.samples for label in s.labels}
    assert labels <= ALLOWED_LABELS
    assert not any("track" in label for label in labels)


def test_source_events_update_the_right_series() -> None:
    metrics = Metrics()
    metrics.record_source_event("cam1", "decoded", count=25)
    metrics.record_source_event("cam1", "dropped", reason="analysis_behind", count=2)
    metrics.record_source_event("cam1", "down")
    metrics.record_source_event("cam1", "no_such_kind")
    reg = metrics.registry
    assert reg.get_sample_value("streamguard_frames_decoded_total", {"stream": "cam1"}) == 25
    assert (
        reg.get_sample_value("streamguard_frames_dropped_total", {"stream": "cam1", "reason": "analysis_behind"}) == 2
    )
    assert reg.get_sample_value("streamguard_stream_up", {"stream": "cam1"}) == 0


def test_forget_stream_removes_only_that_stream() -> None:
    metrics = Metrics()
    touch_all(metrics, "cam1")
    touch_all(metrics, "cam2")
    metrics.forget_stream("cam1")
    text = metrics.render()[0].decode()
    assert 'stream="cam1"' not in text
    assert 'stream="cam2"' in text
    assert (
        metrics.registry.get_sample_value(
            "streamguard_frames_dropped_total", {"stream": "cam2", "reason": "analysis_behind"}
        )
        == 3
    )


def test_instances_have_separate_registries() -> None:
    first, second = Metrics(), Metrics()
    first.sink_published.inc(5)
    assert second.registry.get_sample_value("streamguard_sink_published_total") == 0
    assert first.registry.get_sample_value("streamguard_sink_published_total") == 5


def test_model_info_keeps_one_version() -> None:
    metrics = Metrics()
    metrics.set_model_version("v1")
    metrics.set_model_version("v2")
    text = metrics.render()[0].decode()
    assert 'streamguard_model_info{version="v2"} 1.0' in text
    assert 'version="v1"' not in text
