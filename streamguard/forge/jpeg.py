"""RGB images to JPEG bytes and back: the face bank's crops, portable crop sets and the realism step."""

from __future__ import annotations

import cv2
import numpy as np

from streamguard.errors import MediaDecodeError
from streamguard.forge.records import RgbImage


def encode_jpeg(image: RgbImage, quality: int) -> bytes:
    """``(H, W, 3)`` uint8 RGB as JPEG at `quality` (0-100).

    Raises:
        MediaDecodeError: OpenCV could not encode it.
    """
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise MediaDecodeError("JPEG encoding failed")
    return bytes(encoded.tobytes())


def decode_jpeg(data: bytes) -> RgbImage:
    """JPEG bytes as ``(H, W, 3)`` uint8 RGB.

    Raises:
        MediaDecodeError: The bytes are not a decodable image.
    """
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise MediaDecodeError("corrupt JPEG")
    return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)
