"""Stream realism: the degradations live video adds, applied after forging to reals and fakes alike.

`apply_realism` draws a random chain of horizontal flip, colour jitter, blur, down-and-up scaling, sensor
noise and one lossy codec (H.264 through PyAV at a random CRF, or JPEG) from a seeded generator. Only the
flip moves pixels, and it flips the mask with the image, so masks stay aligned.
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streamguard.forge.jpeg import decode_jpeg, encode_jpeg
from streamguard.forge.records import FloatMask, RgbImage


@dataclass(frozen=True, slots=True)
class RealismConfig:
    """Probabilities and ranges of the realism chain (each step is drawn independently, in this order).

    Attributes:
        p_flip: Horizontal flip (image and mask).
        p_jitter: Colour jitter (brightness, contrast, saturation, hue).
        brightness: Largest additive brightness change, as a share of full scale.
        contrast: Largest relative contrast change.
        saturation: Largest relative saturation change.
        hue_degrees: Largest hue rotation.
        p_blur: Gaussian blur.
        blur_sigma: Range of the blur's sigma in pixels.
        p_rescale: Down-scale then up-scale back (a low-resolution camera or stream).
        rescale: Range of the down-scaling factor.
        p_noise: Additive Gaussian noise.
        noise_sigma: Range of the noise's standard deviation in 8-bit levels.
        p_h264: H.264 re-encode (a 1-3 frame clip encoded and decoded in memory).
        crf: Range of the x264 constant rate factor (higher = worse).
        p_jpeg: JPEG re-encode, drawn only when H.264 was not.
        jpeg_quality: Range of the JPEG quality.
    """

    p_flip: float = 0.5
    p_jitter: float = 0.5
    brightness: float = 0.08
    contrast: float = 0.15
    saturation: float = 0.2
    hue_degrees: float = 5.0
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    p_rescale: float = 0.3
    rescale: tuple[float, float] = (0.35, 0.9)
    p_noise: float = 0.2
    noise_sigma: tuple[float, float] = (1.0, 6.0)
    p_h264: float = 0.4
    crf: tuple[int, int] = (18, 40)
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 100)


NO_REALISM = RealismConfig(p_flip=0, p_jitter=0, p_blur=0, p_rescale=0, p_noise=0, p_h264=0, p_jpeg=0)
"""A config that changes nothing."""


def apply_realism(
    image: RgbImage, mask: FloatMask, rng: np.random.Generator, config: RealismConfig = RealismConfig()
) -> tuple[RgbImage, FloatMask, list[str]]:
    """Degrade an image like a live stream would, keeping its mask aligned.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (a real or a fake).
        mask: ``(H, W)`` float32 mask (zeros for a real).
        rng: Random source; the result is a pure function of its state and the inputs.
        config: Probabilities and ranges.

    Returns:
        The degraded image, the mask (flipped when the image was) and the names of the steps applied.
    """
    steps: list[str] = []
    if rng.random() < config.p_flip:
        image, mask = hflip(image, mask)
        steps.append("flip")
    if rng.random() < config.p_jitter:
        image = colour_jitter(image, rng, config)
        steps.append("jitter")
    if rng.random() < config.p_blur:
        sigma = rng.uniform(*config.blur_sigma)
        image = gaussian_blur(image, sigma)
        steps.append(f"blur(sigma={sigma:.2f})")
    if rng.random() < config.p_rescale:
        factor = rng.uniform(*config.rescale)
        image = rescale_roundtrip(image, factor, cubic=bool(rng.random() < 0.5))
        steps.append(f"rescale({factor:.2f})")
    if rng.random() < config.p_noise:
        sigma = rng.uniform(*config.noise_sigma)
        image = add_noise(image, sigma, rng)
        steps.append(f"noise(sigma={sigma:.1f})")
    if rng.random() < config.p_h264:
        crf, frames = int(rng.integers(config.crf[0], config.crf[1] + 1)), int(rng.integers(1, 4))
        image = h264_roundtrip(image, crf, frames)
        steps.append(f"h264(crf={crf},frames={frames})")
    elif rng.random() < config.p_jpeg:
        quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        image = jpeg_roundtrip(image, quality)
        steps.append(f"jpeg(q={quality})")
    return image, mask, steps


def hflip(image: RgbImage, mask: FloatMask) -> tuple[RgbImage, FloatMask]:
    """Mirror image and mask left to right."""
    return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])


def colour_jitter(image: RgbImage, rng: np.random.Generator, config: RealismConfig = RealismConfig()) -> RgbImage:
    """Random brightness, contrast, saturation and hue changes within the config's limits."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-1, 1) * config.hue_degrees * 256.0 / 360.0) % 256.0
    hsv[:, :, 1] *= 1.0 + rng.uniform(-1, 1) * config.saturation
    hsv = np.clip(np.rint(hsv), 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    mean = float(rgb.mean())
    contrast = 1.0 + rng.uniform(-1, 1) * config.contrast
    brightness = rng.uniform(-1, 1) * config.brightness * 255.0
    return _to_uint8((rgb - mean) * contrast + mean + brightness)


def gaussian_blur(image: RgbImage, sigma: float) -> RgbImage:
    """Gaussian blur of ``sigma`` pixels."""
    return np.ascontiguousarray(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma), dtype=np.uint8)


def rescale_roundtrip(image: RgbImage, factor: float, cubic: bool = False) -> RgbImage:
    """Shrink by ``factor`` (area averaging) and enlarge back to the original size (bilinear or bicubic)."""
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    up = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR)
    return np.ascontiguousarray(up, dtype=np.uint8)


def add_noise(image: RgbImage, sigma: float, rng: np.random.Generator) -> RgbImage:
    """Add Gaussian noise of ``sigma`` 8-bit levels."""
    noise = rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    return _to_uint8(image.astype(np.float32) + noise)


def jpeg_roundtrip(image: RgbImage, quality: int) -> RgbImage:
    """Encode as JPEG at ``quality`` (0-100) and decode."""
    return decode_jpeg(encode_jpeg(image, quality))


def h264_available() -> bool:
    """Whether PyAV (the H.264 step's encoder) is installed."""
    return importlib.util.find_spec("av") is not None


def h264_roundtrip(image: RgbImage, crf: int, n_frames: int = 1) -> RgbImage:
    """Encode ``n_frames`` copies of the image as an H.264 (yuv420p) clip in memory and decode the last one.

    The first frame is an intra frame; later ones are predicted from it, like the frames between key frames of
    a live stream. Odd sizes are padded by edge replication for the encoder and cropped back.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        crf: x264 constant rate factor (0-51; higher = more loss).
        n_frames: Length of the clip (1-3 is plenty).
    """
    # Here, so that the forge runs where PyAV is missing when H.264 is off (`h264_available`).
    import av
    import av.video.reformatter

    from streamguard.datasets.media import frame_to_rgb

    height, width = image.shape[:2]
    padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="h264") as container:
        stream = container.add_stream(
            "libx264", rate=25, options={"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
        )
        stream.width, stream.height, stream.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
        for _ in range(max(1, n_frames)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")))
        container.mux(stream.encode(None))
    buffer.seek(0)
    decoded: npt.NDArray[np.uint8] | None = None
    reformatter = av.video.reformatter.VideoReformatter()
    with av.open(buffer, mode="r", format="h264") as container:
        for frame in container.decode(video=0):
            decoded = frame_to_rgb(frame, reformatter, threads=1)
    if decoded is None:
        raise ValueError("H.264 round trip produced no frame")
    return np.ascontiguousarray(decoded[:height, :width], dtype=np.uint8)


def _to_uint8(values: npt.NDArray[np.float32]) -> RgbImage:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
