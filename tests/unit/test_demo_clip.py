"""The demo clip's two forgeries, and which one the demo shows a given model."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from streamguard.demo.clip import demo_self_blend, face_and_mask, face_position, write_demo_clip
from streamguard.demo.live import demo_forgery_for
from streamguard.model import CheckpointMeta, Detector, YShapedAutoencoder, get_variant, save_checkpoint


def test_demo_self_blend_changes_only_the_masked_face() -> None:
    face, _ = face_and_mask()
    forged, mask = demo_self_blend(face, np.random.default_rng(0))
    changed = np.any(forged != face, axis=2)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert not np.any(changed & (mask == 0)), "a pixel outside the mask changed"
    assert np.count_nonzero(changed) > 0.5 * np.count_nonzero(mask)  # ratio 1: the blend shows everywhere
    assert 0.2 < mask.mean() < 0.7  # a face, not the whole patch


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_self_blend_clip_marks_the_forged_frames_and_their_face(tmp_path: Path) -> None:
    clip = write_demo_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, forged_span=(1.0, 2.0), forgery="self_blend")
    frames = _frames(clip.path)
    assert len(frames) == clip.n_frames == 20
    assert all(box is None for box in clip.forged_boxes[:10]) and all(box is not None for box in clip.forged_boxes[10:])
    face, _ = face_and_mask()
    for i in (3, 14):  # a real and a forged frame: each shows its face where `face_position` says
        x, y = face_position(i / clip.fps, clip.size)
        patch = frames[i][y : y + 256, x : x + 256].astype(np.int16)
        error = np.abs(patch - face).mean()
        assert (error < 4) if i < 10 else (error > 6), error
        box = clip.forged_boxes[i]
        if box is not None:
            x0, y0, x1, y1 = box
            assert x <= x0 < x1 <= x + 256 and y <= y0 < y1 <= y + 256


def test_unknown_demo_forgery_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown demo forgery"):
        write_demo_clip(tmp_path / "c.mp4", seconds=1.0, forgery="swap")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ({"forge": {"methods": ["self_blend", "swap_hull"]}}, "self_blend"),
        ({"forge": {"methods": ["swap_hull", "swap_rect"]}}, "edit"),
        ({"data": "streamguard demo crops (astronaut, blended face edits)"}, "edit"),
    ],
)
def test_the_demo_shows_each_model_a_forgery_it_was_trained_on(
    tmp_path: Path, training: dict[str, object], expected: str
) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, YShapedAutoencoder(get_variant("ft")), CheckpointMeta(variant="ft", training=training))
    assert demo_forgery_for(Detector.load(path, device="cpu")) == expected
