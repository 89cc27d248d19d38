from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.vision.crop import (
    CropTransform,
    FaceBox,
    center_crop,
    center_crop_transform,
    crop_face,
    square_crop_transform,
)

FRAME_W, FRAME_H = 640, 480


@st.composite
def frames_and_boxes(draw: st.DrawFn) -> tuple[FaceBox, int, int]:
    """A frame size and a face box whose centre lies inside the frame (as the detector clips boxes)."""
    width = draw(st.integers(1, 2000))
    height = draw(st.integers(1, 2000))
    cx = draw(st.floats(0, width))
    cy = draw(st.floats(0, height))
    half_w = draw(st.floats(0, 1500))
    half_h = draw(st.floats(0, 1500))
    box = FaceBox(cx - half_w, cy - half_h, cx + half_w, cy + half_h, score=0.9)
    return box, width, height


scales = st.floats(0.5, 3.0)
sizes = st.integers(1, 512)


def box_at(x0: float, y0: float, x1: float, y1: float) -> FaceBox:
    return FaceBox(x0, y0, x1, y1, score=1.0)


# --- FaceBox ---------------------------------------------------------------------------------------


def test_face_box_geometry() -> None:
    box = FaceBox(10.0, 20.0, 50.0, 100.0, score=0.7, keypoints=((1.0, 2.0),))
    assert box.width == 40.0
    assert box.height == 80.0
    assert box.center == (30.0, 60.0)


def test_records_are_frozen() -> None:
    box = box_at(0, 0, 1, 1)
    with pytest.raises(AttributeError):
        box.x0 = 5.0  # type: ignore[misc]
    transform = CropTransform(0, 0, 10, 20, 20)
    with pytest.raises(AttributeError):
        transform.side = 3  # type: ignore[misc]


# --- square_crop_transform: properties ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(frames_and_boxes(), scales, sizes)
def test_crop_region_is_a_square_inside_the_frame_containing_the_box_centre(
    frame_and_box: tuple[FaceBox, int, int], scale: float, size: int
) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, width, height, scale=scale, size=size)
    assert (t.frame_width, t.frame_height, t.size) == (width, height, size)
    assert 1 <= t.side <= min(width, height)
    assert 0 <= t.x0 and t.x0 + t.side <= width
    assert 0 <= t.y0 and t.y0 + t.side <= height
    cx, cy = box.center
    assert t.x0 <= cx <= t.x0 + t.side
    assert t.y0 <= cy <= t.y0 + t.side


@settings(max_examples=300, deadline=None)
@given(frames_and_boxes(), scales)
def test_crop_side_is_scale_times_the_larger_box_side_unless_the_frame_is_smaller(
    frame_and_box: tuple[FaceBox, int, int], scale: float
) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, width, height, scale=scale)
    wanted = scale * max(box.width, box.height)
    assert t.side == max(1, min(round(wanted), width, height))


@settings(max_examples=200, deadline=None)
@given(frames_and_boxes(), scales)
def test_crop_is_centred_on_the_box_when_it_fits(frame_and_box: tuple[FaceBox, int, int], scale: float) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, width, height, scale=scale)
    cx, cy = box.center
    if t.side / 2 + 1 <= cx <= width - t.side / 2 - 1:
        assert abs(t.x0 + t.side / 2 - cx) <= 0.5
    if t.side / 2 + 1 <= cy <= height - t.side / 2 - 1:
        assert abs(t.y0 + t.side / 2 - cy) <= 0.5


finite_coords = st.floats(-5000, 5000, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(frames_and_boxes(), scales, sizes, st.lists(st.tuples(finite_coords, finite_coords), max_size=20))
def test_crop_to_frame_inverts_frame_to_crop(
    frame_and_box: tuple[FaceBox, int, int],
    scale: float,
    size: int,
    points: list[tuple[float, float]],
) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, width, height, scale=scale, size=size)
    frame_points = np.array(points, dtype=np.float64).reshape(-1, 2)
    back = t.crop_to_frame(t.frame_to_crop(frame_points))
    assert back.shape == frame_points.shape
    np.testing.assert_allclose(back, frame_points, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(frames_and_boxes(), scales, sizes)
def test_region_corners_map_to_crop_corners(frame_and_box: tuple[FaceBox, int, int], scale: float, size: int) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, width, height, scale=scale, size=size)
    corners = np.array([[t.x0, t.y0], [t.x0 + t.side, t.y0 + t.side]], dtype=np.float64)
    np.testing.assert_allclose(t.frame_to_crop(corners), [[0, 0], [size, size]], atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(frames_and_boxes(), scales, st.integers(1, 64))
def test_pasting_an_all_ones_mask_marks_exactly_the_region(
    frame_and_box: tuple[FaceBox, int, int], scale: float, size: int
) -> None:
    box, width, height = frame_and_box
    t = square_crop_transform(box, min(width, 300), min(height, 300), scale=scale, size=size)
    pasted = t.paste_mask(np.ones((size, size), dtype=np.float32))
    expected = np.zeros((t.frame_height, t.frame_width), dtype=np.float32)
    expected[t.y0 : t.y0 + t.side, t.x0 : t.x0 + t.side] = 1.0
    np.testing.assert_allclose(pasted, expected, atol=1e-5)


# --- square_crop_transform: examples -----------------------------------------------------------------


def test_centred_box_gives_a_centred_square() -> None:
    t = square_crop_transform(box_at(270, 190, 370, 290), FRAME_W, FRAME_H, scale=1.3)
    assert (t.x0, t.y0, t.side) == (255, 175, 130)


def test_side_uses_the_larger_box_side() -> None:
    t = square_crop_transform(box_at(300, 200, 340, 300), FRAME_W, FRAME_H, scale=2.0)
    assert t.side == 200
    assert (t.x0, t.y0) == (220, 150)


def test_box_at_top_left_corner_shifts_the_square_inside() -> None:
    t = square_crop_transform(box_at(0, 0, 100, 100), FRAME_W, FRAME_H, scale=1.3)
    assert (t.x0, t.y0, t.side) == (0, 0, 130)


def test_box_at_bottom_right_corner_shifts_the_square_inside() -> None:
    t = square_crop_transform(box_at(600, 440, 640, 480), FRAME_W, FRAME_H, scale=1.3)
    assert t.side == 52
    assert (t.x0, t.y0) == (FRAME_W - 52, FRAME_H - 52)


def test_box_larger_than_the_frame_shrinks_the_side_to_the_smaller_dimension() -> None:
    t = square_crop_transform(box_at(100, 0, 500, 480), FRAME_W, FRAME_H, scale=1.3)
    assert t.side == FRAME_H
    assert t.y0 == 0
    assert t.x0 == 300 - FRAME_H // 2


def test_degenerate_box_still_gives_a_one_pixel_square() -> None:
    t = square_crop_transform(box_at(10, 10, 10, 10), FRAME_W, FRAME_H)
    assert t.side == 1
    assert (t.x0, t.y0) == (10, 10)


@pytest.mark.parametrize(("width", "height", "scale"), [(0, 10, 1.3), (10, 0, 1.3), (10, 10, 0.0)])
def test_invalid_frame_or_scale_is_rejected(width: int, height: int, scale: float) -> None:
    with pytest.raises(ValueError):
        square_crop_transform(box_at(0, 0, 5, 5), width, height, scale=scale)


@pytest.mark.parametrize(
    ("x0", "y0", "side", "size"),
    [(-1, 0, 10, 8), (0, -1, 10, 8), (631, 0, 10, 8), (0, 471, 10, 8), (0, 0, 0, 8), (0, 0, 10, 0)],
)
def test_crop_transform_rejects_regions_outside_the_frame(x0: int, y0: int, side: int, size: int) -> None:
    with pytest.raises(ValueError):
        CropTransform(x0, y0, side, FRAME_W, FRAME_H, size)


def test_point_mappings_reject_wrong_shapes() -> None:
    t = CropTransform(0, 0, 100, FRAME_W, FRAME_H, 50)
    with pytest.raises(ValueError):
        t.frame_to_crop(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        t.crop_to_frame(np.zeros(2))


def test_point_mapping_example() -> None:
    t = CropTransform(100, 50, 200, FRAME_W, FRAME_H, 100)
    np.testing.assert_allclose(t.frame_to_crop([[100, 50], [200, 150], [300, 250]]), [[0, 0], [50, 50], [100, 100]])
    np.testing.assert_allclose(t.crop_to_frame([[25, 75]]), [[150, 200]])


# --- crop_region / paste_mask -------------------------------------------------------------------------


def random_frame(seed: int = 0, height: int = FRAME_H, width: int = FRAME_W) -> np.ndarray:
    frame: np.ndarray = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return frame


def test_crop_region_without_resizing_is_the_exact_slice() -> None:
    frame = random_frame()
    t = CropTransform(37, 11, 64, FRAME_W, FRAME_H, 64)
    np.testing.assert_array_equal(t.crop_region(frame), frame[11:75, 37:101])
    gray = frame[:, :, 0]
    np.testing.assert_array_equal(t.crop_region(gray), gray[11:75, 37:101])


def test_crop_region_keeps_dtype_and_channel_axis() -> None:
    t = CropTransform(0, 0, 100, FRAME_W, FRAME_H, 40)
    assert t.crop_region(np.zeros((FRAME_H, FRAME_W), np.float32)).shape == (40, 40)
    single = t.crop_region(np.zeros((FRAME_H, FRAME_W, 1), np.uint8))
    assert single.shape == (40, 40, 1)
    assert single.dtype == np.uint8
    four = t.crop_region(np.zeros((FRAME_H, FRAME_W, 4), np.float64))
    assert four.shape == (40, 40, 4)
    assert four.dtype == np.float64
    assert four.flags.c_contiguous


def test_crop_region_of_a_bool_mask_stays_bool() -> None:
    mask = np.zeros((FRAME_H, FRAME_W), dtype=bool)
    mask[:, :300] = True
    t = CropTransform(200, 0, 200, FRAME_W, FRAME_H, 100)
    cropped = t.crop_region(mask)
    assert cropped.dtype == np.bool_
    assert cropped[:, :49].all()
    assert not cropped[:, 51:].any()


def test_crop_region_rejects_an_array_of_another_size() -> None:
    t = CropTransform(0, 0, 100, FRAME_W, FRAME_H, 40)
    with pytest.raises(ValueError):
        t.crop_region(np.zeros((FRAME_W, FRAME_H), np.uint8))
    with pytest.raises(ValueError):
        t.crop_region(np.zeros((FRAME_H, FRAME_W, 3, 1), np.uint8))


def test_crop_region_averages_areas_when_shrinking() -> None:
    # One bright column in four: area averaging gives 1/4 everywhere, bilinear sampling would give 0.
    image = np.zeros((FRAME_H, FRAME_W), dtype=np.float32)
    image[:, 0::4] = 1.0
    t = CropTransform(0, 0, 400, FRAME_W, FRAME_H, 100)
    np.testing.assert_allclose(t.crop_region(image), 0.25, atol=1e-6)


def test_crop_region_interpolates_linearly_when_enlarging() -> None:
    image = np.zeros((FRAME_H, FRAME_W), dtype=np.float32)
    image[:, 1] = 1.0
    t = CropTransform(0, 0, 2, FRAME_W, FRAME_H, 4)
    np.testing.assert_allclose(t.crop_region(image)[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)


def test_paste_mask_without_resizing_is_exact_and_zero_outside() -> None:
    t = CropTransform(300, 100, 64, FRAME_W, FRAME_H, 64)
    mask = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    pasted = t.paste_mask(mask)
    assert pasted.shape == (FRAME_H, FRAME_W)
    assert pasted.dtype == np.float32
    np.testing.assert_array_equal(pasted[100:164, 300:364], mask)
    pasted[100:164, 300:364] = 0.0
    assert not pasted.any()


def test_paste_mask_rejects_a_mask_of_another_size() -> None:
    t = CropTransform(0, 0, 100, FRAME_W, FRAME_H, 40)
    with pytest.raises(ValueError):
        t.paste_mask(np.zeros((41, 40)))


def ellipse_mask(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W]
    mask: np.ndarray = (((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0).astype(np.float32)
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


@pytest.mark.parametrize("size", [64, 256, 512])
def test_paste_mask_inverts_crop_region(size: int) -> None:
    # A "ground-truth" mask around a face box: cut it out, paste it back, and it must land where it was.
    box = box_at(250, 150, 410, 330)
    truth = ellipse_mask(330, 240, 70, 85)
    t = square_crop_transform(box, FRAME_W, FRAME_H, scale=1.3, size=size)
    cropped = t.crop_region(truth)
    assert cropped.shape == (size, size)
    pasted = t.paste_mask(cropped)
    assert iou(pasted >= 0.5, truth >= 0.5) > 0.95
    outside = np.ones((FRAME_H, FRAME_W), dtype=bool)
    outside[t.y0 : t.y0 + t.side, t.x0 : t.x0 + t.side] = False
    assert not pasted[outside].any()


def test_mask_pasted_from_an_off_centre_crop_stays_in_place() -> None:
    # A crop shifted against the frame edge: a mark at crop centre must come back at the region centre.
    t = square_crop_transform(box_at(560, 380, 640, 480), FRAME_W, FRAME_H, scale=1.5, size=128)
    assert (t.x0 + t.side, t.y0 + t.side) == (FRAME_W, FRAME_H)
    mask = np.zeros((128, 128), dtype=np.float32)
    mask[54:74, 54:74] = 1.0
    pasted = t.paste_mask(mask)
    ys, xs = np.nonzero(pasted >= 0.5)
    expected = t.crop_to_frame([[64, 64]])[0]
    assert abs(xs.mean() + 0.5 - expected[0]) < 1.0
    assert abs(ys.mean() + 0.5 - expected[1]) < 1.0


# --- crop_face / center_crop -------------------------------------------------------------------------


def test_crop_face_returns_a_contiguous_uint8_crop_of_the_region() -> None:
    frame = random_frame(2)
    box = box_at(100, 100, 200, 220)
    crop, t = crop_face(frame, box, scale=1.3, size=96)
    assert crop.shape == (96, 96, 3)
    assert crop.dtype == np.uint8
    assert crop.flags.c_contiguous
    assert t == square_crop_transform(box, FRAME_W, FRAME_H, scale=1.3, size=96)
    np.testing.assert_array_equal(crop, t.crop_region(frame))


def test_crop_face_content_comes_from_the_face_region() -> None:
    frame = np.zeros((FRAME_H, FRAME_W, 3), dtype=np.uint8)
    frame[200:300, 400:500] = (255, 0, 0)
    crop, _ = crop_face(frame, box_at(400, 200, 500, 300), scale=1.0, size=50)
    assert (crop == (255, 0, 0)).all()


def test_crop_face_accepts_a_non_contiguous_frame() -> None:
    frame = random_frame(3)[:, ::-1]
    crop, t = crop_face(frame, box_at(10, 10, 90, 90), size=32)
    assert crop.flags.c_contiguous
    np.testing.assert_array_equal(crop, t.crop_region(np.ascontiguousarray(frame)))


@pytest.mark.parametrize(
    "frame", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32)]
)
def test_crop_functions_reject_non_rgb_frames(frame: np.ndarray) -> None:
    with pytest.raises(ValueError):
        crop_face(frame, box_at(0, 0, 5, 5))
    with pytest.raises(ValueError):
        center_crop(frame)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(640, 480, (80, 0, 480)), (480, 640, (0, 80, 480)), (100, 100, (0, 0, 100)), (5, 2, (1, 0, 2))],
)
def test_center_crop_takes_the_largest_centred_square(width: int, height: int, expected: tuple[int, int, int]) -> None:
    frame = random_frame(4, height=height, width=width)
    crop, t = center_crop(frame, size=64)
    assert (t.x0, t.y0, t.side) == expected
    assert t == center_crop_transform(width, height, size=64)
    assert crop.shape == (64, 64, 3)
    assert crop.dtype == np.uint8
    assert crop.flags.c_contiguous
