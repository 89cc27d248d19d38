"""Wire formats of the Redis sink: mask PNGs, overlay JPEGs and the flat fields of an alerts-stream entry.

Entry fields (all strings, JSON where structured; see `ALERT_FIELDS`):

- ``event``: ``start``, ``update`` or ``end``; ``alert_id``, ``stream_id``, ``track_id`` (int),
  ``sequence`` (int, names the mask keys of this event);
- ``ts``, ``opened_at``: Unix times in seconds; ``score`` (rolling mean P(fake)), ``peak_score``,
  ``window_s``, ``n_samples`` (int); ``reason`` (why it ended, empty for start and update);
- ``bbox``: JSON ``[x0, y0, x1, y1]`` face box in frame pixels; ``crop_box``: JSON ``[x, y, side, side]``
  (the square crop the mask covers, in frame pixels); ``frame_size``: JSON ``[width, height]`` — all three
  ``""`` when the event has no scored face;
- ``mask_key``, ``overlay_key``, ``crop_key``: Redis keys of the mask PNG, overlay JPEG and face-crop JPEG
  (``""`` when none); ``history_key``: key of the track's level over time, JSON ``[[unix_ts, level], ...]``
  (``""`` when none) — all with the mask TTL;
- ``model``: detector version.

Operators add ``ack`` and ``dismiss`` entries from the console (`OPERATOR_FIELDS`): ``event``,
``alert_id``, ``stream_id``, ``track_id``, ``ts``, ``by`` (who) and ``note``.

The mask PNG is 8-bit grayscale in crop space (``round(mask * 255)``); map it onto the frame by scaling it
to ``crop_box``'s side and placing it at ``(x, y)``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from streamguard.types import AlertEvent, Score

ALERT_FIELDS: Final[tuple[str, ...]] = (
    "event",
    "alert_id",
    "stream_id",
    "track_id",
    "sequence",
    "ts",
    "opened_at",
    "score",
    "peak_score",
    "window_s",
    "n_samples",
    "reason",
    "bbox",
    "crop_box",
    "frame_size",
    "mask_key",
    "overlay_key",
    "crop_key",
    "history_key",
    "model",
)
OPERATOR_FIELDS: Final[tuple[str, ...]] = ("event", "alert_id", "stream_id", "track_id", "ts", "by", "note")
INT_FIELDS: Final = frozenset({"track_id", "sequence", "n_samples"})
FLOAT_FIELDS: Final = frozenset({"ts", "opened_at", "score", "peak_score", "window_s"})
JSON_FIELDS: Final = frozenset({"bbox", "crop_box", "frame_size"})

MASK_THRESHOLD: Final = 0.5
OVERLAY_MAX_ALPHA: Final = 0.6
OVERLAY_COLOR: Final = (255.0, 0.0, 0.0)
JPEG_QUALITY: Final = 85


def alerts_key(prefix: str) -> str:
    """The alerts stream: ``{prefix}:alerts``."""
    return f"{prefix}:alerts"


def alert_mask_key(prefix: str, alert_id: str, sequence: int) -> str:
    """Key of the mask PNG of one alert event: ``{prefix}:mask:{alert_id}:{sequence}``."""
    return f"{prefix}:mask:{alert_id}:{sequence}"


def alert_overlay_key(prefix: str, alert_id: str, sequence: int) -> str:
    """Key of the overlay JPEG of one alert event: ``{prefix}:overlay:{alert_id}:{sequence}``."""
    return f"{prefix}:overlay:{alert_id}:{sequence}"


def alert_crop_key(prefix: str, alert_id: str, sequence: int) -> str:
    """Key of the face-crop JPEG of one alert event: ``{prefix}:crop:{alert_id}:{sequence}``."""
    return f"{prefix}:crop:{alert_id}:{sequence}"


def alert_history_key(prefix: str, alert_id: str) -> str:
    """Key of an alert's level history (JSON, rewritten with each event): ``{prefix}:history:{alert_id}``."""
    return f"{prefix}:history:{alert_id}"


def history_json(event: AlertEvent) -> bytes:
    """An event's history as JSON ``[[unix_ts, level], ...]`` (times rounded to ms, levels to 1e-4)."""
    points = [[round(event.ts + dt, 3), round(float(level), 4)] for dt, level in event.history]
    return json.dumps(points, separators=(",", ":")).encode()


def crop_jpeg(crop: npt.NDArray[np.uint8]) -> bytes:
    """The face crop as a JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def stream_state_key(prefix: str, stream_id: str) -> str:
    """The per-stream state hash: ``{prefix}:stream:{stream_id}``."""
    return f"{prefix}:stream:{stream_id}"


def mask_png(mask: npt.NDArray[np.floating[Any]]) -> bytes:
    """Encode a probability mask as an 8-bit grayscale PNG (``round(clip(mask, 0, 1) * 255)``).

    Args:
        mask: `(H, W)` values in [0, 1]; NaN counts as 0.

    Returns:
        PNG bytes.

    Raises:
        ValueError: `mask` is not two-dimensional or is empty.
    """
    gray = _mask_to_uint8(mask)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def decode_mask_png(data: bytes) -> npt.NDArray[np.float32]:
    """Decode a mask PNG back to `(H, W)` float32 in [0, 1] (quantised to 1/255)."""
    with Image.open(io.BytesIO(data)) as image:
        gray = np.asarray(image.convert("L"), dtype=np.float32)
    return gray / np.float32(255.0)


def overlay_jpeg(crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.floating[Any]]) -> bytes:
    """The face crop with the manipulated area tinted red, as a JPEG.

    Pixels where the mask exceeds 0.5 are blended towards pure red with an opacity proportional to the mask
    (up to `OVERLAY_MAX_ALPHA`); the others keep the crop's colour. A mask of another size than the crop is
    resized to it first.

    Args:
        crop: `(S, S, 3)` uint8 RGB face crop.
        mask: `(H, W)` probabilities in crop space.

    Returns:
        JPEG bytes.

    Raises:
        ValueError: The crop is not `(H, W, 3)` or the mask is not two-dimensional.
    """
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.size == 0:
        raise ValueError(f"crop must be (H, W, 3), got {crop.shape}")
    height, width = int(crop.shape[0]), int(crop.shape[1])
    gray = _mask_to_uint8(mask)
    if gray.shape != (height, width):
        gray = np.asarray(Image.fromarray(gray).resize((width, height), Image.Resampling.BILINEAR))
    probability = gray.astype(np.float32) / np.float32(255.0)
    alpha = np.where(probability > MASK_THRESHOLD, probability * OVERLAY_MAX_ALPHA, 0.0).astype(np.float32)
    alpha = alpha[..., None]
    red = np.asarray(OVERLAY_COLOR, dtype=np.float32)
    blended = crop.astype(np.float32) * (1.0 - alpha) + red * alpha
    pixels = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a JPEG (or any image PIL reads) to `(H, W, 3)` uint8 RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def alert_fields(
    event: AlertEvent,
    mask_key: str,
    overlay_key: str,
    *,
    peak: Score | None = None,
    crop_key: str = "",
    history_key: str = "",
) -> dict[str, str]:
    """Flatten an alert event into the string fields of its alerts-stream entry.

    Args:
        event: The event.
        mask_key: Key of the mask PNG for this event (``""`` when there is none).
        overlay_key: Key of the overlay JPEG (``""`` when there is none).
        peak: The scored face whose box, crop and model describe the event; defaults to ``event.peak``
            (an ``end`` event without one passes the last published peak).
        crop_key: Key of the face-crop JPEG (``""`` when there is none).
        history_key: Key of the level history (``""`` when there is none).

    Returns:
        One string per name in `ALERT_FIELDS`.
    """
    face_peak = peak if peak is not None else event.peak
    fields = {
        "event": str(event.phase.value),
        "alert_id": event.alert_id,
        "stream_id": event.stream_id,
        "track_id": str(int(event.track_id)),
        "sequence": str(int(event.sequence)),
        "ts": _float_text(event.ts),
        "opened_at": _float_text(event.opened_at),
        "score": _float_text(event.score),
        "peak_score": _float_text(event.peak_score),
        "window_s": _float_text(event.window_s),
        "n_samples": str(int(event.n_samples)),
        "reason": event.reason,
        "bbox": "",
        "crop_box": "",
        "frame_size": "",
        "mask_key": mask_key,
        "overlay_key": overlay_key,
        "crop_key": crop_key,
        "history_key": history_key,
        "model": "",
    }
    if face_peak is not None:
        face = face_peak.face
        fields["bbox"] = _json_numbers(face.box_xyxy)
        fields["crop_box"] = _json_numbers(face.crop_xywh)
        fields["frame_size"] = _json_numbers(face.frame_size)
        fields["model"] = face_peak.model_version
    return fields


def parse_alert_fields(raw: Mapping[bytes, bytes] | Mapping[str, str] | Mapping[Any, Any]) -> dict[str, Any]:
    """Decode the fields of an alerts-stream entry as read from Redis (bytes or str) into typed values.

    Integers become `int`, times and scores `float`, ``bbox``/``crop_box``/``frame_size`` lists (``None``
    when empty); everything else, unknown fields included, stays a string. Values that do not parse are kept
    as strings, so a consumer never fails on an entry written by a newer or older version.

    Args:
        raw: Field -> value, as returned by ``XREAD``/``XRANGE``.

    Returns:
        Field -> typed value.
    """
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        name = decode_text(key)
        parsed[name] = _typed_value(name, decode_text(value))
    return parsed


def _typed_value(name: str, text: str) -> Any:
    try:
        if name in INT_FIELDS:
            return int(text)
        if name in FLOAT_FIELDS:
            return float(text)
        if name in JSON_FIELDS:
            return json.loads(text) if text else None
    except ValueError:
        return text
    return text


def decode_text(value: bytes | str | Any) -> str:
    """A Redis reply value (bytes or str) as text; undecodable bytes are replaced, never raised on."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _float_text(value: float) -> str:
    number = float(value)
    return repr(number) if math.isfinite(number) else "nan"


def _json_numbers(values: tuple[float, ...] | tuple[int, ...]) -> str:
    return json.dumps([_json_number(value) for value in values], separators=(",", ":"))


def _json_number(value: float) -> float | int:
    number = float(value)
    if number.is_integer():
        return int(number)
    return round(number, 2)


def _mask_to_uint8(mask: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    array = np.asarray(mask, dtype=np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"mask must be (H, W), got {array.shape}")
    finite = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0)
    scaled: npt.NDArray[np.float32] = np.rint(np.clip(finite, 0.0, 1.0) * np.float32(255.0))
    return scaled.astype(np.uint8)
