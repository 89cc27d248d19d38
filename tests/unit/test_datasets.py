from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pytest
from PIL import Image

from streamguard.datasets import (
    MaskSource,
    MediaItem,
    read_frames,
    read_mask,
    read_video_frame,
    scan_dataset,
    summarize,
)
from streamguard.errors import DatasetError, MediaDecodeError

SIDE = 64
N_FRAMES = 12
STEP = 20  # Frame i is filled with grey level i * STEP, so a frame's pixels tell its index.


# --- fixture writers -------------------------------------------------------------------------------------------


def grey_frame(index: int) -> np.ndarray:
    return np.full((SIDE, SIDE, 3), index * STEP, dtype=np.uint8)


def noisy_frame(index: int, rng: np.random.Generator) -> np.ndarray:
    """Top half encodes the index; bottom half is noise, so that every frame costs about as many bytes."""
    frame = rng.integers(0, 256, size=(SIDE, SIDE, 3), dtype=np.uint8)
    frame[: SIDE // 2] = index * STEP
    return frame


def write_video(
    path: Path,
    frames: list[np.ndarray],
    codec: str = "libx264",
    container_options: dict[str, str] | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=12)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_grey_video(path: Path, n_frames: int = N_FRAMES, codec: str = "libx264") -> Path:
    return write_video(path, [grey_frame(i) for i in range(n_frames)], codec=codec)


def write_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode:
        image = image.convert(mode)
    image.save(path)
    return path


def write_animation(path: Path, n_frames: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(grey_frame(i)) for i in range(n_frames)]
    extra: dict[str, Any] = {"lossless": True} if path.suffix == ".webp" else {}
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0, **extra)
    return path


def frame_level(image: np.ndarray, rows: slice = slice(None)) -> int:
    """The frame index a grey-coded frame carries."""
    return round(float(image[rows].mean()) / STEP)


def expected_indices(n_frames: int, max_frames: int) -> list[int]:
    return sorted({round(x) for x in np.linspace(0, n_frames - 1, min(n_frames, max_frames))})


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


# --- folder layout ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    pixels = grey_frame(5)
    write_image(root / "real" / "a.jpg", pixels)
    write_image(root / "real" / "ffhq" / "b.png", pixels)
    write_image(root / "real" / "ffhq" / "still.webp", pixels)
    write_grey_video(root / "real" / "clips" / "v.mp4", n_frames=4)
    write_image(root / "real" / ".hidden.jpg", pixels)
    (root / "real" / "notes.txt").write_text("not media")
    write_image(root / "real" / ".cache" / "c.jpg", pixels)
    write_image(root / "fake" / "x.jpg", pixels)  # no mask, group ""
    write_image(root / "fake" / "faceswap" / "c.png", pixels)
    write_image(root / "masks" / "faceswap" / "c.png", np.zeros((SIDE, SIDE), np.uint8))
    write_grey_video(root / "fake" / "faceswap" / "sub" / "v.mp4", n_frames=4)
    write_image(root / "masks" / "faceswap" / "sub" / "v" / "0.png", np.zeros((SIDE, SIDE), np.uint8))
    write_animation(root / "fake" / "gen" / "anim.gif", 3)
    write_animation(root / "fake" / "gen" / "anim2.webp", 3)
    (root / "masks" / "fake" / "gen" / "anim").mkdir(parents=True)
    write_image(root / "fake" / "gen" / "d.v2.jpg", pixels)
    write_image(root / "masks" / "fake" / "gen" / "d.v2.png", np.zeros((SIDE, SIDE), np.uint8))
    return root


def test_folder_layout_lists_media_sorted_with_labels_groups_and_kinds(folder_root: Path) -> None:
    items = scan_dataset(folder_root)

    summary = [(item.rel_path, item.is_fake, item.group, item.kind) for item in items]
    assert summary == [
        ("fake/faceswap/c.png", True, "faceswap", "image"),
        ("fake/faceswap/sub/v.mp4", True, "faceswap", "video"),
        ("fake/gen/anim.gif", True, "gen", "video"),
        ("fake/gen/anim2.webp", True, "gen", "video"),
        ("fake/gen/d.v2.jpg", True, "gen", "image"),
        ("fake/x.jpg", True, "", "image"),
        ("real/a.jpg", False, "", "image"),
        ("real/clips/v.mp4", False, "clips", "video"),
        ("real/ffhq/b.png", False, "ffhq", "image"),
        ("real/ffhq/still.webp", False, "ffhq", "image"),
    ]
    assert all(item.path == folder_root / item.rel_path for item in items)


def test_folder_layout_finds_masks_in_both_conventions(folder_root: Path) -> None:
    masks = {item.rel_path: item.mask for item in scan_dataset(folder_root)}

    masks_dir = folder_root / "masks"
    assert masks["fake/faceswap/c.png"] == MaskSource("image", masks_dir / "faceswap" / "c.png")
    assert masks["fake/faceswap/sub/v.mp4"] == MaskSource("frames_dir", masks_dir / "faceswap" / "sub" / "v")
    assert masks["fake/gen/anim.gif"] == MaskSource("frames_dir", masks_dir / "fake" / "gen" / "anim")
    assert masks["fake/gen/d.v2.jpg"] == MaskSource("image", masks_dir / "fake" / "gen" / "d.v2.png")
    assert masks["fake/gen/anim2.webp"] is None
    assert masks["fake/x.jpg"] is None
    assert all(mask is None for rel_path, mask in masks.items() if rel_path.startswith("real/"))


def test_folder_layout_rejects_a_split(folder_root: Path) -> None:
    with pytest.raises(DatasetError, match="split 'train'"):
        scan_dataset(folder_root, split="train")


def test_summarize_counts_labels_kinds_groups_and_masks(folder_root: Path) -> None:
    summary = summarize(scan_dataset(folder_root))

    assert summary == {
        "items": 10,
        "labels": {"fake": 6, "real": 4},
        "kinds": {"image": 6, "video": 4},
        "groups": {"fake": {"": 1, "faceswap": 2, "gen": 3}, "real": {"": 1, "clips": 1, "ffhq": 2}},
        "fakes_with_masks": 4,
    }
    assert json.loads(json.dumps(summary)) == summary


def test_unknown_layout_names_the_root(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match="unknown dataset layout") as caught:
        scan_dataset(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_missing_root_and_empty_dataset_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        scan_dataset(tmp_path / "nowhere")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "readme.txt").write_text("no media")
    with pytest.raises(DatasetError, match="no images or videos"):
        scan_dataset(tmp_path)


# --- FaceForensics++ layout ------------------------------------------------------------------------------------


@pytest.fixture()
def ffpp_root(tmp_path: Path) -> Path:
    """Empty stand-in files: scanning never decodes."""
    originals = tmp_path / "original_sequences" / "youtube" / "c23" / "videos"
    for name in ("000", "001", "002", "003"):
        touch(originals / f"{name}.mp4")
    touch(tmp_path / "original_sequences" / "youtube" / "c40" / "videos" / "000.mp4")
    deepfakes = tmp_path / "manipulated_sequences" / "Deepfakes"
    for name in ("000_001", "001_000", "002_003", "003_002"):
        touch(deepfakes / "c23" / "videos" / f"{name}.mp4")
    touch(deepfakes / "masks" / "videos" / "000_001.mp4")
    touch(tmp_path / "manipulated_sequences" / "FaceSwap" / "c23" / "videos" / "000_001.mp4")
    touch(tmp_path / "manipulated_sequences" / "FaceSwap" / "c23" / "videos" / "notes.txt")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.json").write_text(json.dumps([["000", "001"]]))
    return tmp_path


def test_faceforensics_all_videos(ffpp_root: Path) -> None:
    items = scan_dataset(ffpp_root)

    assert [(item.rel_path, item.is_fake, item.group) for item in items] == [
        ("manipulated_sequences/Deepfakes/c23/videos/000_001.mp4", True, "Deepfakes"),
        ("manipulated_sequences/Deepfakes/c23/videos/001_000.mp4", True, "Deepfakes"),
        ("manipulated_sequences/Deepfakes/c23/videos/002_003.mp4", True, "Deepfakes"),
        ("manipulated_sequences/Deepfakes/c23/videos/003_002.mp4", True, "Deepfakes"),
        ("manipulated_sequences/FaceSwap/c23/videos/000_001.mp4", True, "FaceSwap"),
        ("original_sequences/youtube/c23/videos/000.mp4", False, "youtube"),
        ("original_sequences/youtube/c23/videos/001.mp4", False, "youtube"),
        ("original_sequences/youtube/c23/videos/002.mp4", False, "youtube"),
        ("original_sequences/youtube/c23/videos/003.mp4", False, "youtube"),
    ]
    assert {item.kind for item in items} == {"video"}
    masks = {item.rel_path: item.mask for item in items if item.mask is not None}
    mask_video = ffpp_root / "manipulated_sequences" / "Deepfakes" / "masks" / "videos" / "000_001.mp4"
    assert masks == {"manipulated_sequences/Deepfakes/c23/videos/000_001.mp4": MaskSource("video", mask_video)}


def test_faceforensics_official_split_selects_pairs(ffpp_root: Path) -> None:
    names = [(item.group, item.path.name) for item in scan_dataset(ffpp_root, split="train")]

    assert names == [
        ("Deepfakes", "000_001.mp4"),
        ("Deepfakes", "001_000.mp4"),
        ("FaceSwap", "000_001.mp4"),
        ("youtube", "000.mp4"),
        ("youtube", "001.mp4"),
    ]


def test_faceforensics_compression_level(ffpp_root: Path) -> None:
    assert [item.rel_path for item in scan_dataset(ffpp_root, compression="c40")] == [
        "original_sequences/youtube/c40/videos/000.mp4"
    ]
    with pytest.raises(DatasetError, match="'raw'"):
        scan_dataset(ffpp_root, compression="raw")


def test_faceforensics_missing_split_file(ffpp_root: Path) -> None:
    with pytest.raises(DatasetError, match="split 'test'") as caught:
        scan_dataset(ffpp_root, split="test")
    assert "test.json" in str(caught.value)


@pytest.mark.parametrize("content", ["not json", '{"a": 1}', '[["000"]]', "[[0, 1]]"])
def test_faceforensics_malformed_split_file(ffpp_root: Path, content: str) -> None:
    (ffpp_root / "splits" / "val.json").write_text(content)
    with pytest.raises(DatasetError, match=r"val\.json"):
        scan_dataset(ffpp_root, split="val")


# --- frames ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 12 grey-coded frames in an mp4 (frame count in the header) and an mkv (no count)."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "mp4": write_grey_video(folder / "grey.mp4"),
        "mkv": write_grey_video(folder / "grey.mkv"),
        "avi": write_grey_video(folder / "grey.avi", codec="mpeg4"),
    }


@pytest.mark.parametrize("container", ["mp4", "mkv", "avi"])
@pytest.mark.parametrize("max_frames", [1, 2, 4, 5, 12, 30])
def test_read_frames_selects_evenly_spaced_frames(videos: dict[str, Path], container: str, max_frames: int) -> None:
    frames = read_frames(videos[container], max_frames=max_frames)

    assert [frame.index for frame in frames] == expected_indices(N_FRAMES, max_frames)
    assert [frame_level(frame.image) for frame in frames] == [frame.index for frame in frames]
    for frame in frames:
        assert frame.image.shape == (SIDE, SIDE, 3)
        assert frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous


def test_read_frames_without_limit_returns_every_frame(videos: dict[str, Path]) -> None:
    frames = read_frames(videos["mkv"])

    assert [frame.index for frame in frames] == list(range(N_FRAMES))
    assert [frame_level(frame.image) for frame in frames] == list(range(N_FRAMES))


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_images_are_videos(tmp_path: Path, suffix: str) -> None:
    path = write_animation(tmp_path / "fake" / f"anim{suffix}", n_frames=8)

    frames = read_frames(path, max_frames=3)

    assert [frame.index for frame in frames] == [0, 4, 7]  # round(3.5) is 4 under round-half-to-even
    assert [frame_level(frame.image) for frame in frames] == [0, 4, 7]
    assert [item.kind for item in scan_dataset(tmp_path)] == ["video"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("L", [90, 90, 90]), ("RGBA", [10, 90, 200]), ("P", [10, 90, 200]), ("1", [255, 255, 255])],
)
def test_still_images_become_rgb(tmp_path: Path, mode: str, expected: list[int]) -> None:
    colour = np.zeros((SIDE, SIDE, 3), np.uint8)
    colour[:] = (10, 90, 200) if mode != "1" else (255, 255, 255)
    if mode == "L":
        colour[:] = 90
    path = write_image(tmp_path / "still.png", colour, mode=mode)

    (frame,) = read_frames(path, max_frames=5)

    assert frame.index == 0
    assert frame.image.shape == (SIDE, SIDE, 3)
    assert frame.image.dtype == np.uint8
    assert frame.image.flags.c_contiguous
    np.testing.assert_array_equal(frame.image[0, 0], expected)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    levels = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(levels).save(path)

    (frame,) = read_frames(path)

    np.testing.assert_array_equal(frame.image[0, :, 0], [0, 100, 255])
    np.testing.assert_array_equal(frame.image[..., 0], frame.image[..., 2])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)  # 20 high, 40 wide
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display.
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)

    (frame,) = read_frames(path)

    assert frame.image.shape == (40, 20, 3)


def test_truncated_video_returns_the_frames_before_the_break(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [noisy_frame(i, rng) for i in range(N_FRAMES)]
    # faststart puts the index (with its frame count of 12) first, so a cut file still opens.
    whole = write_video(tmp_path / "whole.mp4", frames, container_options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])

    decodable = read_frames(cut)
    some = read_frames(cut, max_frames=3)

    assert 0 < len(decodable) < N_FRAMES
    top = slice(0, SIDE // 2)
    assert [frame_level(frame.image, top) for frame in decodable] == [frame.index for frame in decodable]
    indices = [frame.index for frame in decodable]
    assert [frame.index for frame in some] == [indices[i] for i in expected_indices(len(decodable), 3)]


def test_truncated_video_without_decodable_frames(tmp_path: Path, videos: dict[str, Path]) -> None:
    cut = tmp_path / "cut.mp4"
    data = videos["mp4"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # The index is written last: nothing survives.

    with pytest.raises(MediaDecodeError) as caught:
        read_frames(cut)
    assert str(cut) in str(caught.value)


@pytest.mark.parametrize("name", ["garbage.mp4", "garbage.jpg", "garbage.gif", "empty.mkv"])
def test_undecodable_files_raise_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else np.random.default_rng(1).bytes(3000))

    with pytest.raises(MediaDecodeError) as caught:
        read_frames(path)
    assert str(path) in str(caught.value)
    assert caught.value.__cause__ is not None or name.startswith("empty")


def test_missing_file_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.mp4"
    with pytest.raises(MediaDecodeError, match="no such file") as caught:
        read_frames(path)
    assert str(path) in str(caught.value)


def test_max_frames_must_be_positive(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        read_frames(videos["mp4"], max_frames=0)


def test_read_video_frame(videos: dict[str, Path]) -> None:
    frame = read_video_frame(videos["mp4"], 7)
    assert frame is not None
    assert frame_level(frame) == 7
    assert read_video_frame(videos["mp4"], N_FRAMES) is None
    with pytest.raises(ValueError, match="non-negative"):
        read_video_frame(videos["mp4"], -1)


def _level_of_frame(path: Path, index: int) -> int:
    frame = read_video_frame(path, index)
    assert frame is not None
    return frame_level(frame)


def test_decoding_works_in_a_worker_forked_after_the_parent_converted_frames(videos: dict[str, Path]) -> None:
    # The parent converts as the daemon's ingest does, with PyAV's per-thread reformatter (and its threads).
    with av.open(str(videos["mp4"])) as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_level_of_frame, (videos["mp4"], 7)).get(timeout=60) == 7


# --- masks -----------------------------------------------------------------------------------------------------


def fake_item(path: Path, kind: Literal["image", "video"], mask: MaskSource | None) -> MediaItem:
    return MediaItem(path=path, rel_path=path.name, is_fake=True, group="", kind=kind, mask=mask)


MakeMask = Callable[[Path], Path]


@pytest.mark.parametrize(
    ("make_mask", "expected"),
    [
        pytest.param(
            lambda p: write_image(p, np.array([[0, 127], [128, 255]], np.uint8)),
            [[0, 0], [1, 1]],
            id="grey",
        ),
        pytest.param(
            lambda p: write_image(p, np.array([[[0, 0, 0], [200, 0, 0]], [[0, 0, 127], [255, 255, 255]]], np.uint8)),
            [[0, 1], [0, 1]],
            id="rgb",
        ),
        pytest.param(
            lambda p: write_image(p, np.array([[0, 32767], [32768, 65535]], np.uint16)),
            [[0, 0], [1, 1]],
            id="16-bit",
        ),
    ],
)
def test_read_mask_binarises_mask_images_at_half_scale(
    tmp_path: Path, make_mask: MakeMask, expected: list[list[int]]
) -> None:
    item = fake_item(tmp_path / "f.png", "image", MaskSource("image", make_mask(tmp_path / "mask.png")))

    mask = read_mask(item, 0, (2, 2))

    assert mask is not None
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, expected)


def test_read_mask_resizes_with_nearest_neighbour(tmp_path: Path) -> None:
    small = np.zeros((4, 4), np.uint8)
    small[:2, 2:] = 255
    item = fake_item(tmp_path / "f.jpg", "image", MaskSource("image", write_image(tmp_path / "m.png", small)))

    mask = read_mask(item, 0, (8, 12))

    assert mask is not None
    assert mask.shape == (8, 12)
    assert set(np.unique(mask).tolist()) == {0.0, 1.0}
    expected = np.zeros((8, 12), np.float32)
    expected[:4, 6:] = 1
    np.testing.assert_array_equal(mask, expected)


def test_read_mask_from_a_frames_dir(tmp_path: Path) -> None:
    masks = tmp_path / "masks" / "v"
    square = np.zeros((SIDE, SIDE), np.uint8)
    square[10:20, 30:40] = 255
    write_image(masks / "3.png", square)
    item = fake_item(tmp_path / "v.mp4", "video", MaskSource("frames_dir", masks))

    mask = read_mask(item, 3, (SIDE, SIDE))

    assert mask is not None
    np.testing.assert_array_equal(mask, square / 255)
    assert read_mask(item, 2, (SIDE, SIDE)) is None


def test_read_mask_from_a_mask_video_uses_otsu(tmp_path: Path) -> None:
    noise = np.random.default_rng(2).integers(0, 12, size=(SIDE, SIDE, 1), dtype=np.uint8)

    def mask_frame(index: int) -> np.ndarray:
        if index == 1:  # No manipulated pixels, only the kind of noise lossy compression leaves.
            return np.repeat(noise, 3, axis=2)
        frame = np.zeros((SIDE, SIDE, 3), np.uint8)
        frame[16:48, 4 * index : 4 * index + 24] = 230
        return frame

    mask_video = write_video(tmp_path / "masks" / "m.mp4", [mask_frame(i) for i in range(6)])
    item = fake_item(tmp_path / "v.mp4", "video", MaskSource("video", mask_video))

    mask = read_mask(item, 4, (SIDE, SIDE))
    empty = read_mask(item, 1, (SIDE, SIDE))

    assert mask is not None
    assert empty is not None
    expected = mask_frame(4)[..., 0] > 128
    iou = np.logical_and(mask > 0, expected).sum() / np.logical_or(mask > 0, expected).sum()
    assert iou > 0.9
    assert set(np.unique(mask).tolist()) == {0.0, 1.0}
    assert not empty.any()
    assert read_mask(item, 6, (SIDE, SIDE)) is None


def test_read_mask_is_none_without_masks(tmp_path: Path) -> None:
    real = MediaItem(path=tmp_path / "r.jpg", rel_path="r.jpg", is_fake=False, group="", kind="image")
    assert read_mask(real, 0, (SIDE, SIDE)) is None
    assert read_mask(fake_item(tmp_path / "f.jpg", "image", None), 0, (SIDE, SIDE)) is None
    missing = MaskSource("image", tmp_path / "nope.png")
    assert read_mask(fake_item(tmp_path / "f.jpg", "image", missing), 0, (SIDE, SIDE)) is None


def test_unreadable_mask_raises_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "m.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    item = fake_item(tmp_path / "f.jpg", "image", MaskSource("image", broken))

    with pytest.raises(MediaDecodeError) as caught:
        read_mask(item, 0, (SIDE, SIDE))
    assert str(broken) in str(caught.value)
