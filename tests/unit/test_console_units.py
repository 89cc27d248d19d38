"""Console building blocks without a server: login cookies, preview drawing, folding an alert's entries."""

from __future__ import annotations

import time
from fractions import Fraction

import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from streamguard.config import ScoringConfig
from streamguard.console.alerts import AlertDetail, entry_json
from streamguard.console.preview import draw_preview, score_colour
from streamguard.console.session import COOKIE_NAME, ConsoleAuth, LoginError, check_operator
from streamguard.scoring import StreamScorer
from streamguard.types import AlertPhase, FaceView, Frame, FrameView
from tests.support.alert_events import make_score

TOKEN = "s3cret-token"  # noqa: S105 - a test token


def request_with_cookie(value: str | None = None, authorization: str | None = None) -> web.Request:
    headers = {}
    if value is not None:
        headers["Cookie"] = f"{COOKIE_NAME}={value}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return make_mocked_request("GET", "/console/api/session", headers=headers)


def login_cookie(auth: ConsoleAuth, operator: str) -> str:
    response = web.Response()
    auth.set_login_cookie(response, operator, secure=False)
    morsel = response.cookies[COOKIE_NAME]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    return morsel.value


def test_login_cookie_names_the_operator_and_cannot_be_forged_or_reused_after_rotation() -> None:
    auth = ConsoleAuth(TOKEN, read_only_without_token=False, max_age_s=60)
    cookie = login_cookie(auth, "Ada Lovelace")
    assert TOKEN not in cookie
    viewer = auth.viewer(request_with_cookie(cookie))
    assert viewer is not None and viewer.operator == "Ada Lovelace" and not viewer.read_only

    encoded, expires, signature = cookie.split(".")
    other = login_cookie(auth, "Mallory").split(".")[0]
    assert auth.viewer(request_with_cookie(f"{other}.{expires}.{signature}")) is None  # name swapped
    assert auth.viewer(request_with_cookie(f"{encoded}.{int(expires) + 3600}.{signature}")) is None  # extended
    assert auth.viewer(request_with_cookie("garbage")) is None
    assert auth.viewer(request_with_cookie()) is None
    rotated = ConsoleAuth("another-token", read_only_without_token=False, max_age_s=60)
    assert rotated.viewer(request_with_cookie(cookie)) is None


def test_expired_cookie_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = ConsoleAuth(TOKEN, read_only_without_token=False, max_age_s=60)
    cookie = login_cookie(auth, "ops")
    monkeypatch.setattr(time, "time", lambda: 10**10)
    assert auth.viewer(request_with_cookie(cookie)) is None


def test_bearer_token_is_accepted_and_modes_follow_the_config() -> None:
    auth = ConsoleAuth(TOKEN, read_only_without_token=True, max_age_s=60)
    assert auth.mode == "token"
    assert auth.viewer(request_with_cookie(authorization=f"Bearer {TOKEN}")) is not None
    assert auth.viewer(request_with_cookie(authorization="Bearer wrong")) is None
    read_only = ConsoleAuth(None, read_only_without_token=True, max_age_s=60)
    viewer = read_only.viewer(request_with_cookie())
    assert read_only.mode == "read_only" and viewer is not None and viewer.read_only
    refused = ConsoleAuth(None, read_only_without_token=False, max_age_s=60)
    assert refused.mode == "refused" and refused.viewer(request_with_cookie()) is None
    assert not refused.token_accepted("")


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\x00name"])
def test_operator_names_are_checked(name: str) -> None:
    with pytest.raises(LoginError):
        check_operator(name)
    assert check_operator("  Grace   Hopper ") == "Grace Hopper"


def test_score_colour_runs_from_green_to_red() -> None:
    assert score_colour(0.0) == (0, 255, 0)
    assert score_colour(1.0) == (255, 0, 0)
    assert score_colour(0.5) == (255, 255, 0)
    assert score_colour(7.0) == (255, 0, 0)


def frame_view(in_alert: bool, level: float) -> FrameView:
    image = np.full((360, 640, 3), 128, dtype=np.uint8)
    frame = Frame("cam1", 7, 0, Fraction(1, 25), time.time(), time.monotonic(), image)
    mask = np.ones((64, 64), dtype=np.float32)
    return FrameView(frame, (FaceView(make_score(mask=mask), level, in_alert),))


def test_preview_draws_the_box_in_the_score_colour_and_tints_the_mask_only_in_alert() -> None:
    for in_alert, level in ((False, 0.1), (True, 0.95)):
        jpeg = draw_preview(frame_view(in_alert, level), width=320)
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
        image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        assert image.shape == (180, 320, 3)  # scaled to the preview width
        # The left box edge (x0 100.5 -> 50, y 50..130 -> 25..65 at half scale) has the score colour.
        edge = image[35:55, 49:52].reshape(-1, 3).mean(0)
        expected = np.array(score_colour(level))
        assert np.abs(edge - expected).max() < 60, (edge, expected)
        # Inside the crop region (88..192 x 38..142 -> 44..96 x 19..71), away from the box edge and label.
        inside = image[40:50, 60:75].reshape(-1, 3).mean(0)
        if in_alert:
            assert inside[0] > inside[1] + 60  # reddened by the mask
        else:
            assert abs(inside[0] - inside[1]) < 10  # untouched grey


def test_alert_detail_folds_entries_into_state_acks_and_latest_images() -> None:
    def entry(i: int, **fields: str) -> dict[str, object]:
        return entry_json(f"{i}-0", {"alert_id": "a", "stream_id": "cam1", "track_id": "3", **fields})

    detail = AlertDetail(
        "a",
        [
            entry(1, event="start", peak_score="0.9", score="0.8", opened_at="100.0", sequence="0", crop_key="k0"),
            entry(2, event="update", peak_score="0.97", score="0.85", sequence="1", crop_key="k1"),
            entry(3, event="ack", by="ada", note="seen", ts="105.5"),
            entry(4, event="end", peak_score="0.97", score="0.4", reason="below_threshold", ts="110.0", sequence="1"),
        ],
    )
    summary = detail.summary()
    assert summary["state"] == "acknowledged"  # the operator's decision sticks past later detector events
    assert summary["peak_score"] == 0.97 and summary["ended_at"] == 110.0 and summary["reason"] == "below_threshold"
    assert summary["acks"] == [{"event": "ack", "by": "ada", "ts": 105.5, "note": "seen"}]
    latest = detail.latest_with("crop_key")
    assert latest is not None and latest["sequence"] == 1
    detail.entries.append(entry(5, event="dismiss", by="bob"))
    assert detail.state == "dismissed"
    assert AlertDetail("a", [e for e in detail.entries if e["event"] in {"start", "end"}]).state == "ended"
    assert AlertDetail("a", detail.entries[:2]).state == "open"
    assert entry_json("9-0", {"score": "nan"})["score"] is None  # JSON-safe


def test_alert_events_carry_the_track_history_from_before_the_alert() -> None:
    config = ScoringConfig(window_s=1.0, on_threshold=0.7, off_threshold=0.5, min_duration_s=0.4, min_samples=1)
    scorer = StreamScorer("cam1", config)
    events = []
    for i in range(40):
        value = 0.1 if i < 20 else 0.95
        events += scorer.update(make_score(value=value), now=100.0 + i * 0.2)
    start = next(e for e in events if e.phase is AlertPhase.START)
    offsets = [dt for dt, _level in start.history]
    assert offsets == sorted(offsets) and offsets[-1] == 0.0
    assert start.ts + offsets[0] >= start.opened_at - 10.0 - 1e-9
    assert start.history[0][1] < 0.5 < 0.7 <= start.history[-1][1]  # the plot shows the rise
