"""Decoding dataset media: frames of images and videos, and ground-truth masks.

Still images and animated images (GIF, animated WebP) are read with Pillow, videos with PyAV. Frames come
back as ``(H, W, 3)`` uint8 RGB arrays together with their 0-based index in decode order, which is also the
index that names a video's mask files.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.video.frame
import av.video.reformatter
import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from streamguard.datasets.records import PILLOW_SUFFIXES, MaskSource, MediaItem
from streamguard.errors import MediaDecodeError

__all__ = ["DecodedFrame", "read_frames", "read_mask", "read_video_frame"]

_LOG = logging.getLogger(__name__)

RgbImage = npt.NDArray[np.uint8]
BinaryMask = npt.NDArray[np.bool_]
FloatMask = npt.NDArray[np.float32]
Selection = frozenset[int] | None
"""Frame indices to convert to RGB; None converts every frame."""

_PILLOW_ERRORS = (OSError, ValueError, EOFError, SyntaxError, struct.error, zlib.error, Image.DecompressionBombError)
_AV_ERRORS = (av.FFmpegError, OSError, ValueError)
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

MASK_VIDEO_MIN_LEVEL = 32
"""Floor for the Otsu threshold of a mask video frame: on a frame holding only compression noise (no mask),
Otsu would split the noise itself."""


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame.

    Attributes:
        index: 0-based position in decode order (0 for a still image).
        image: ``(H, W, 3)`` uint8 RGB, C-contiguous.
    """

    index: int
    image: RgbImage


def read_frames(path: Path, max_frames: int | None = None) -> list[DecodedFrame]:
    """Decode an image (one frame) or up to ``max_frames`` evenly spaced frames of a video or animation.

    Every frame of a video is decoded (the codec needs it) but only the selected ones are converted to RGB.
    The selection is ``round(linspace(0, n - 1, max_frames))`` over the ``n`` frames that decode; a video
    that breaks off part-way gives the frames before the break.

    Args:
        path: An image (EXIF orientation applied), animated GIF/WebP or video file.
        max_frames: At most this many frames of a video or animation; None for all of them.

    Returns:
        The frames in decode order.

    Raises:
        MediaDecodeError: When the file is missing or no frame of it can be decoded; the message names the
            file and the reason.
        ValueError: When ``max_frames`` is below 1.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 or None, got {max_frames}")
    if not path.is_file():
        raise MediaDecodeError(f"{path}: no such file")
    if path.suffix.lower() in PILLOW_SUFFIXES:
        return _read_with_pillow(path, max_frames)
    return _read_video(path, max_frames)


def read_video_frame(path: Path, index: int) -> RgbImage | None:
    """Decode a video up to frame ``index`` and return that frame as RGB, or None when the video is shorter.

    Args:
        path: A video file.
        index: 0-based frame index in decode order.

    Returns:
        ``(H, W, 3)`` uint8 RGB, or None.

    Raises:
        MediaDecodeError: When the file is missing or cannot be decoded at all.
        ValueError: When ``index`` is negative.
    """
    if index < 0:
        raise ValueError(f"frame index must be non-negative, got {index}")
    if not path.is_file():
        raise MediaDecodeError(f"{path}: no such file")
    with _open_video(path) as container, closing(_decode(path, container)) as frames:
        for position, frame in enumerate(frames):
            if position == index:
                return frame_to_rgb(frame, av.video.reformatter.VideoReformatter())
    return None


def read_mask(item: MediaItem, frame_index: int, frame_shape: tuple[int, int]) -> FloatMask | None:
    """The ground-truth manipulation mask of one frame of an item.

    Mask images (greyscale or colour, any bit depth) are binarised at half of full scale on their brightest
    channel; mask video frames (lossy FaceForensics++ masks) with Otsu's threshold, floored at
    `MASK_VIDEO_MIN_LEVEL`.

    Args:
        item: A dataset item.
        frame_index: The frame's index in decode order (0 for a still image).
        frame_shape: ``(height, width)`` of the frame; the mask is resized (nearest) to it when different.

    Returns:
        ``(height, width)`` float32 in {0, 1}, or None when the item has no masks (always for reals; callers
        treat a real as all-zero) or none for this frame.

    Raises:
        MediaDecodeError: When a mask file exists but cannot be decoded.
    """
    if item.mask is None:
        return None
    binary = _read_binary_mask(item.mask, frame_index)
    if binary is None:
        return None
    return _fit_mask(binary, frame_shape)


def _read_with_pillow(path: Path, max_frames: int | None) -> list[DecodedFrame]:
    try:
        with Image.open(path) as image:
            n_frames = int(getattr(image, "n_frames", 1))
            if n_frames <= 1:
                return [DecodedFrame(0, _pillow_to_rgb(ImageOps.exif_transpose(image)))]
            return _read_animation(path, image, _selected_indices(n_frames, max_frames))
    except _PILLOW_ERRORS as e:
        raise MediaDecodeError(f"{path}: cannot decode image: {e}") from e


def _read_animation(path: Path, image: Image.Image, selection: Selection) -> list[DecodedFrame]:
    """The selected frames of an animated image (Pillow decodes the frames in between when seeking)."""
    indices = range(int(getattr(image, "n_frames", 1))) if selection is None else sorted(selection)
    frames: list[DecodedFrame] = []
    for index in indices:
        try:
            image.seek(index)
            frames.append(DecodedFrame(index, _pillow_to_rgb(image)))
        except _PILLOW_ERRORS as e:
            if not frames:
                raise
            _LOG.warning("%s: animation breaks off at frame %d: %s", path, index, e)
            break
    return frames


def _pillow_to_rgb(image: Image.Image) -> RgbImage:
    if image.mode in _SIXTEEN_BIT_MODES:  # Pillow's own conversion clips 16-bit values instead of scaling.
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.array(rgb, dtype=np.uint8, order="C")


def _read_video(path: Path, max_frames: int | None) -> list[DecodedFrame]:
    header_count = _header_frame_count(path) if max_frames is not None else 0
    frames, decoded_count = _decode_selected(path, _selected_indices(header_count, max_frames))
    if max_frames is not None and decoded_count not in (0, header_count):
        # The container did not know its length or was wrong (e.g. truncated): select from the true count.
        frames, _ = _decode_selected(path, _selected_indices(decoded_count, max_frames))
    if not frames:
        raise MediaDecodeError(f"{path}: no decodable video frames")
    return frames


def _selected_indices(n_frames: int, max_frames: int | None) -> Selection:
    """Evenly spaced indices; None (all) without a limit, and none at all when the count is unknown (0)."""
    if max_frames is None:
        return None
    if n_frames <= 0:
        return frozenset()
    spaced = np.rint(np.linspace(0, n_frames - 1, min(max_frames, n_frames)))
    return frozenset(int(index) for index in spaced)


def _header_frame_count(path: Path) -> int:
    """The frame count the container declares; 0 when it does not know."""
    with _open_video(path) as container:
        return max(int(_video_stream(path, container).frames or 0), 0)


def _decode_selected(path: Path, selection: Selection) -> tuple[list[DecodedFrame], int]:
    """The selected frames as RGB, and the number of frames decoded."""
    frames: list[DecodedFrame] = []
    count = 0
    reformatter = av.video.reformatter.VideoReformatter()
    with _open_video(path) as container, closing(_decode(path, container)) as decoded:
        for index, frame in enumerate(decoded):
            count = index + 1
            if selection is None or index in selection:
                frames.append(DecodedFrame(index, frame_to_rgb(frame, reformatter)))
    return frames, count


def _open_video(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except _AV_ERRORS as e:
        raise MediaDecodeError(f"{path}: cannot open video: {e}") from e


def _video_stream(path: Path, container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        raise MediaDecodeError(f"{path}: no video stream (not a video, or the file is truncated)")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaDecodeError(f"{path}: unsupported video codec")
    return stream


def _decode(path: Path, container: av.container.InputContainer) -> Generator[av.video.frame.VideoFrame, None, None]:
    """The video frames in decode order; a stream that breaks off after some frames just ends there."""
    stream = _video_stream(path, container)
    stream.thread_type = "AUTO"
    count = 0
    try:
        for frame in container.decode(stream):
            yield frame
            count += 1
    except _AV_ERRORS as e:
        if count == 0:
            raise MediaDecodeError(f"{path}: cannot decode video: {e}") from e
        _LOG.warning("%s: video breaks off after %d frames: %s", path, count, e)


def frame_to_rgb(
    frame: av.video.frame.VideoFrame, reformatter: av.video.reformatter.VideoReformatter, threads: int = 0
) -> RgbImage:
    """`frame` as contiguous ``(H, W, 3)`` uint8 RGB, converted by the caller's own `reformatter`.

    Not ``frame.to_ndarray(format="rgb24")``: that converts with a reformatter PyAV keeps per thread, whose
    swscale context owns worker threads. A process forked after it was used (a DataLoader worker) inherits the
    context but not the threads, and its first conversion waits for them forever.

    Args:
        frame: A decoded video frame.
        reformatter: Owned by the caller, e.g. one per file decoded.
        threads: swscale threads (0: FFmpeg's choice; 1 for small frames, where threads cost more than they save).
    """
    rgb = reformatter.reformat(frame, format="rgb24", threads=threads)
    return np.ascontiguousarray(rgb.to_ndarray(), dtype=np.uint8)


def _read_binary_mask(source: MaskSource, frame_index: int) -> BinaryMask | None:
    if source.kind == "video":
        frame = read_video_frame(source.path, frame_index)
        return None if frame is None else _otsu_binarise(frame)
    mask_file = source.path if source.kind == "image" else source.path / f"{frame_index}.png"
    if not mask_file.is_file():
        return None
    return _binarise_mask_image(mask_file)


def _binarise_mask_image(path: Path) -> BinaryMask:
    try:
        with Image.open(path) as image:
            rgb = _pillow_to_rgb(image)
    except _PILLOW_ERRORS as e:
        raise MediaDecodeError(f"{path}: cannot decode mask image: {e}") from e
    binary: BinaryMask = rgb.max(axis=2) >= 128  # Half of full scale (16-bit masks are scaled to 8 bits).
    return binary


def _otsu_binarise(frame: RgbImage) -> BinaryMask:
    brightest = np.ascontiguousarray(frame.max(axis=2))
    otsu_level, _ = cv2.threshold(brightest, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    binary: BinaryMask = brightest > max(float(otsu_level), MASK_VIDEO_MIN_LEVEL)
    return binary


def _fit_mask(mask: BinaryMask, frame_shape: tuple[int, int]) -> FloatMask:
    height, width = frame_shape
    if mask.shape != (height, width):
        resized = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        return np.asarray(resized, dtype=np.float32)
    return mask.astype(np.float32)
