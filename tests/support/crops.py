"""Face crops of random pixels, for the inference engines' tests and benchmarks."""

from __future__ import annotations

import numpy as np

from streamguard.types import FaceCrop


def random_crop(track_id: int, seed: int, size: int, stream_id: str = "cam") -> FaceCrop:
    """A `size`-pixel crop of seeded noise, as the face stage would hand it to the batcher."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return FaceCrop(
        stream_id=stream_id,
        track_id=track_id,
        frame_index=seed,
        wall_ts=1.0,
        mono_ts=1.0,
        box_xyxy=(10.0, 10.0, 50.0, 50.0),
        crop_xywh=(0.0, 0.0, 64.0, 64.0),
        frame_size=(320, 240),
        det_score=0.9,
        pixels=pixels,
    )
