"""Wire formats of the Redis sink: mask PNGs, overlay JPEGs and the flat fields of an alerts-stream entry.

Entry fields (all strings, JSON where structured; `AlertEntry` writes and reads them, see `ALERT_FIELDS`):

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
- ``model``: detector version;
- ``attribute``: what was changed, ``identity``, ``expression`` or ``physical`` (``""`` without an attribute
  head, and on end events); ``attribute_p``: JSON ``{"identity": p, "expression": p, "physical": p}`` (``""``
  without); ``regions``: JSON ``[{"region": "mouth", "coverage": 0.82}, ...]``, most covered first (``[]`` when
  the regions could not be computed, ``""`` on end events); ``explanation``: the same in words
  (``mouth and lips re-animated``). Entries written before these fields existed read back with them empty.

Operators add ``ack`` and ``dismiss`` entries from the console (`OPERATOR_FIELDS`): ``event``,
``alert_id``, ``stream_id``, ``track_id``, ``ts``, ``by`` (who) and ``note``.

The mask PNG is 8-bit grayscale in crop space (``round(mask * 255)``); map it onto the frame by scaling it
to ``crop_box``'s side and placing it at ``(x, y)``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from streamguard.errors import AlertEntryError
from streamguard.types import (
    ATTRIBUTES,
    AlertEvent,
    AlertPhase,
    Attribute,
    EndReason,
    Explanation,
    FaceRegion,
    RegionCoverage,
    RegionOutline,
    Score,
)

OPERATOR_FIELDS: Final[tuple[str, ...]] = ("event", "alert_id", "stream_id", "track_id", "ts", "by", "note")
INT_FIELDS: Final = frozenset({"track_id", "sequence", "n_samples"})
FLOAT_FIELDS: Final = frozenset({"ts", "opened_at", "score", "peak_score", "window_s"})
JSON_FIELDS: Final = frozenset({"bbox", "crop_box", "frame_size", "attribute_p", "regions"})
OPTIONAL_FIELDS: Final = frozenset({"attribute", "attribute_p", "regions", "explanation"})
"""Fields added after the first release: an entry without them reads back with them empty."""
_T = TypeVar("_T")

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


def open_alerts_key(prefix: str, stream_id: str) -> str:
    """Hash of a stream's open alerts, alert id -> its latest entry as JSON: ``{prefix}:open:{stream_id}``.

    Written in the same transaction as each alert event (set by start/update, removed by end), so a daemon that
    died with alerts open finds them there when it starts again.
    """
    return f"{prefix}:open:{stream_id}"


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


def overlay_jpeg(
    crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.floating[Any]], outlines: tuple[RegionOutline, ...] = ()
) -> bytes:
    """The face crop with the manipulated area tinted red and the named regions outlined, as a JPEG.

    Pixels where the mask exceeds 0.5 are blended towards pure red with an opacity proportional to the mask
    (up to `OVERLAY_MAX_ALPHA`); the others keep the crop's colour. A mask of another size than the crop is
    resized to it first. Each outline is drawn as a one-pixel yellow contour.

    Args:
        crop: `(S, S, 3)` uint8 RGB face crop.
        mask: `(H, W)` probabilities in crop space.
        outlines: Region contours in crop pixels (`streamguard.types.Explanation.outlines`).

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
    if outlines:
        pixels = _draw_outlines(pixels, outlines)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


OUTLINE_COLOR: Final = (255, 230, 0)


def _draw_outlines(pixels: npt.NDArray[np.uint8], outlines: tuple[RegionOutline, ...]) -> npt.NDArray[np.uint8]:
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for outline in outlines:
        points = [(int(x), int(y)) for x, y in outline.points]
        if len(points) >= 2:
            draw.line([*points, points[0]], fill=OUTLINE_COLOR, width=1)
    return np.asarray(image)


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a JPEG (or any image PIL reads) to `(H, W, 3)` uint8 RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


Box = tuple[float, float, float, float]
EntryFields = Mapping[str, str] | Mapping[bytes, bytes] | Mapping[str | bytes, str | bytes]
"""An entry's fields as written (str) or as ``XREAD``/``XRANGE`` return them without ``decode_responses`` (bytes)."""


@dataclasses.dataclass(frozen=True, slots=True)
class AlertEntry:
    """One ``start``/``update``/``end`` entry of the alerts stream, typed; its fields are `ALERT_FIELDS`.

    `to_fields` writes the flat string fields of the ``XADD`` entry and `from_fields` reads them back
    exactly: ``AlertEntry.from_fields(entry.to_fields()) == entry`` (NaN scores aside, as NaN != NaN).

    Attributes:
        event: start, update or end.
        alert_id: Unique id of the alert.
        stream_id: The stream.
        track_id: The face track within the stream.
        sequence: Names the mask keys of this event.
        ts: Unix time of the event in seconds.
        opened_at: Unix time the alert started.
        score: Rolling mean P(fake) (a time or score that is not finite is written as ``nan``).
        peak_score: Highest single-frame P(fake) of the alert.
        window_s: Length of the rolling window.
        n_samples: Samples in the window.
        reason: Why the alert ended; ``None`` (written ``""``) for start and update.
        bbox: Face box ``(x0, y0, x1, y1)`` in frame pixels, ``None`` without a scored face.
        crop_box: The square crop ``(x, y, side, side)`` the mask covers, in frame pixels, or ``None``.
        frame_size: ``(width, height)`` of the frame, or ``None``.
        mask_key: Key of the mask PNG (``""`` when none).
        overlay_key: Key of the overlay JPEG (``""`` when none).
        crop_key: Key of the face-crop JPEG (``""`` when none).
        history_key: Key of the level history (``""`` when none).
        model: Detector version (``""`` without a scored face).
        attribute: What the explanation says was changed, None without one or without an attribute head.
        attribute_p: P(attribute) in `streamguard.types.ATTRIBUTES` order, None without.
        regions: The regions the mask covers, most covered first; None without an explanation.
        explanation: The explanation in words (`streamguard.explain.describe`), ``""`` without.
    """

    event: AlertPhase
    alert_id: str
    stream_id: str
    track_id: int
    sequence: int
    ts: float
    opened_at: float
    score: float
    peak_score: float
    window_s: float
    n_samples: int
    reason: EndReason | None
    bbox: Box | None
    crop_box: Box | None
    frame_size: tuple[int, int] | None
    mask_key: str
    overlay_key: str
    crop_key: str
    history_key: str
    model: str
    attribute: Attribute | None = None
    attribute_p: tuple[float, ...] | None = None
    regions: tuple[RegionCoverage, ...] | None = None
    explanation: str = ""

    @classmethod
    def from_event(
        cls,
        event: AlertEvent,
        mask_key: str,
        overlay_key: str,
        *,
        peak: Score | None = None,
        crop_key: str = "",
        history_key: str = "",
    ) -> AlertEntry:
        """The entry of an alert event (boxes rounded to 0.01 px, as written).

        Args:
            event: The event.
            mask_key: Key of the mask PNG for this event (``""`` when there is none).
            overlay_key: Key of the overlay JPEG (``""`` when there is none).
            peak: The scored face whose box, crop and model describe the event; defaults to ``event.peak``
                (an ``end`` event without one passes the last published peak).
            crop_key: Key of the face-crop JPEG (``""`` when there is none).
            history_key: Key of the level history (``""`` when there is none).
        """
        face_peak = peak if peak is not None else event.peak
        face = face_peak.face if face_peak is not None else None
        explained = event.explanation
        return cls(
            event=event.phase,
            alert_id=event.alert_id,
            stream_id=event.stream_id,
            track_id=int(event.track_id),
            sequence=int(event.sequence),
            ts=float(event.ts),
            opened_at=float(event.opened_at),
            score=float(event.score),
            peak_score=float(event.peak_score),
            window_s=float(event.window_s),
            n_samples=int(event.n_samples),
            reason=event.reason,
            bbox=_wire_box(face.box_xyxy) if face is not None else None,
            crop_box=_wire_box(face.crop_xywh) if face is not None else None,
            frame_size=(int(face.frame_size[0]), int(face.frame_size[1])) if face is not None else None,
            mask_key=mask_key,
            overlay_key=overlay_key,
            crop_key=crop_key,
            history_key=history_key,
            model=face_peak.model_version if face_peak is not None else "",
            attribute=explained.attribute if explained is not None else None,
            attribute_p=explained.attribute_p if explained is not None else None,
            regions=explained.regions if explained is not None else None,
            explanation=explained.summary if explained is not None else "",
        )

    def to_fields(self) -> dict[str, str]:
        """The flat string fields of the entry, one per name in `ALERT_FIELDS`, in that order."""
        return {
            "event": self.event.value,
            "alert_id": self.alert_id,
            "stream_id": self.stream_id,
            "track_id": str(self.track_id),
            "sequence": str(self.sequence),
            "ts": _float_text(self.ts),
            "opened_at": _float_text(self.opened_at),
            "score": _float_text(self.score),
            "peak_score": _float_text(self.peak_score),
            "window_s": _float_text(self.window_s),
            "n_samples": str(self.n_samples),
            "reason": self.reason.value if self.reason is not None else "",
            "bbox": _json_numbers(self.bbox),
            "crop_box": _json_numbers(self.crop_box),
            "frame_size": _json_numbers(self.frame_size),
            "mask_key": self.mask_key,
            "overlay_key": self.overlay_key,
            "crop_key": self.crop_key,
            "history_key": self.history_key,
            "model": self.model,
            "attribute": self.attribute.value if self.attribute is not None else "",
            "attribute_p": _attribute_p_json(self.attribute_p),
            "regions": _regions_json(self.regions),
            "explanation": self.explanation,
        }

    @classmethod
    def from_fields(cls, fields: EntryFields) -> AlertEntry:
        """Read an entry back from its fields as ``XREAD``/``XRANGE`` return them (bytes or str).

        Fields other than `ALERT_FIELDS` (written by a newer version) are ignored.

        Raises:
            AlertEntryError: A field is missing or does not parse (an operator ``ack``/``dismiss`` entry, an
                unknown end reason...); the message names the field and its value.
        """
        text = {decode_text(key): decode_text(value) for key, value in fields.items()}
        text = {**dict.fromkeys(OPTIONAL_FIELDS, ""), **text}
        missing = [name for name in ALERT_FIELDS if name not in text]
        if missing:
            raise AlertEntryError(f"alerts-stream entry lacks the field(s) {', '.join(missing)}")
        return cls(
            event=_parse(text, "event", AlertPhase),
            alert_id=text["alert_id"],
            stream_id=text["stream_id"],
            track_id=_parse(text, "track_id", int),
            sequence=_parse(text, "sequence", int),
            ts=_parse(text, "ts", float),
            opened_at=_parse(text, "opened_at", float),
            score=_parse(text, "score", float),
            peak_score=_parse(text, "peak_score", float),
            window_s=_parse(text, "window_s", float),
            n_samples=_parse(text, "n_samples", int),
            reason=_parse(text, "reason", EndReason) if text["reason"] else None,
            bbox=_parse(text, "bbox", _parse_box) if text["bbox"] else None,
            crop_box=_parse(text, "crop_box", _parse_box) if text["crop_box"] else None,
            frame_size=_parse(text, "frame_size", _parse_size) if text["frame_size"] else None,
            mask_key=text["mask_key"],
            overlay_key=text["overlay_key"],
            crop_key=text["crop_key"],
            history_key=text["history_key"],
            model=text["model"],
            attribute=_parse(text, "attribute", Attribute) if text["attribute"] else None,
            attribute_p=_parse(text, "attribute_p", _parse_attribute_p) if text["attribute_p"] else None,
            regions=_parse(text, "regions", _parse_regions) if text["regions"] else None,
            explanation=text["explanation"],
        )


ALERT_FIELDS: Final[tuple[str, ...]] = tuple(field.name for field in dataclasses.fields(AlertEntry))


def attribute_p_dict(explanation: Explanation | None) -> dict[str, float]:
    """``{attribute: p}`` of an explanation, empty without an attribute head."""
    if explanation is None or explanation.attribute_p is None:
        return {}
    return _attribute_p_by_name(explanation.attribute_p)


def _attribute_p_by_name(values: tuple[float, ...]) -> dict[str, float]:
    return {attribute.value: float(p) for attribute, p in zip(ATTRIBUTES, values, strict=True)}


def _region_dicts(regions: tuple[RegionCoverage, ...]) -> list[dict[str, Any]]:
    return [{"region": item.region.value, "coverage": item.coverage} for item in regions]


def regions_list(explanation: Explanation | None) -> list[dict[str, Any]]:
    """``[{"region", "coverage"}, ...]`` of an explanation, as the entry's ``regions`` field holds them."""
    if explanation is None:
        return []
    return _region_dicts(explanation.regions)


def _attribute_p_json(values: tuple[float, ...] | None) -> str:
    if values is None:
        return ""
    return json.dumps({name: round(p, 4) for name, p in _attribute_p_by_name(values).items()})


def _regions_json(regions: tuple[RegionCoverage, ...] | None) -> str:
    if regions is None:
        return ""
    return json.dumps(_region_dicts(regions))


def _parse_attribute_p(text: str) -> tuple[float, ...]:
    values = json.loads(text)
    if not isinstance(values, dict) or set(values) != {a.value for a in ATTRIBUTES}:
        raise ValueError(f"expected a JSON object with the keys {', '.join(a.value for a in ATTRIBUTES)}")
    return tuple(float(values[a.value]) for a in ATTRIBUTES)


def _parse_regions(text: str) -> tuple[RegionCoverage, ...]:
    values = json.loads(text)
    if not isinstance(values, list):
        raise ValueError("expected a JSON list")
    try:
        return tuple(RegionCoverage(FaceRegion(item["region"]), float(item["coverage"])) for item in values)
    except (KeyError, TypeError) as e:
        raise ValueError(f"expected {{region, coverage}} objects ({e})") from e


def decode_entry(raw: Mapping[bytes, bytes] | Mapping[str, str] | Mapping[Any, Any]) -> dict[str, Any]:
    """Any entry of the alerts stream as typed values, for readers that show the whole stream.

    Unlike `AlertEntry.from_fields` this never fails: it also reads operator ``ack``/``dismiss`` entries and
    entries written by a newer or older version. Integers become `int`, times and scores `float`,
    ``bbox``/``crop_box``/``frame_size`` lists (``None`` when empty); everything else, unknown fields
    included, stays a string, as do values that do not parse.

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


def _parse(text: Mapping[str, str], name: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(text[name])
    except ValueError as e:
        raise AlertEntryError(f"alerts-stream entry field {name!r} is malformed: {text[name]!r} ({e})") from e


def _parse_box(text: str) -> Box:
    values = _json_list(text, 4)
    return values[0], values[1], values[2], values[3]


def _parse_size(text: str) -> tuple[int, int]:
    values = _json_list(text, 2)
    if not all(isinstance(value, int) for value in values):
        raise ValueError("expected integers")
    return int(values[0]), int(values[1])


def _json_list(text: str, length: int) -> list[float]:
    values = json.loads(text)
    if (
        not isinstance(values, list)
        or len(values) != length
        or not all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
    ):
        raise ValueError(f"expected a JSON list of {length} numbers")
    return values


def decode_text(value: bytes | str | Any) -> str:
    """A Redis reply value (bytes or str) as text; undecodable bytes are replaced, never raised on."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _float_text(value: float) -> str:
    number = float(value)
    return repr(number) if math.isfinite(number) else "nan"


def _json_numbers(values: tuple[float, ...] | tuple[int, ...] | None) -> str:
    return "" if values is None else json.dumps(list(values), separators=(",", ":"))


def _wire_box(values: tuple[float, float, float, float]) -> Box:
    """A box as written: whole numbers as `int` (``180``, not ``180.0``), others rounded to 0.01."""
    x0, y0, x1, y1 = (_json_number(value) for value in values)
    return x0, y0, x1, y1


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
