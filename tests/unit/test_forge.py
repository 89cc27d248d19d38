"""Forgery synthesis: face mesh, exact masks, labels, realism, the split, the dataset and the eval-layout writer."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from streamguard.datasets import read_mask, scan_dataset, summarize
from streamguard.datasets.toy import astronaut_rgb
from streamguard.forge import mesh
from streamguard.forge.bank import FaceBank, build_face_bank
from streamguard.forge.dataset import ForgeDataset, forge_training_data, split_sides
from streamguard.forge.families import METHODS, SBI_BLEND_RATIOS, forge, methods_of, self_blend
from streamguard.forge.landmarks import FaceLandmarks, FaceMesh
from streamguard.forge.masks import HULL_SUBSETS, hull_mask, regions_covered
from streamguard.forge.realism import NO_REALISM, RealismConfig, apply_realism, h264_roundtrip, hflip
from streamguard.forge.records import ForgedSample, LandmarkedFace
from streamguard.forge.split import SPLIT_FILE, build_split, dump_split, load_split, read_manifest
from streamguard.forge.writer import run_forge
from streamguard.train.data import CropDataset, CropSet, PairedSampler
from streamguard.vision.crop import FaceBox
from streamguard.vision.detection import FaceDetector


def _detect(detector: FaceDetector, face_mesh: FaceMesh, image: np.ndarray) -> tuple[FaceBox, FaceLandmarks]:
    box = detector.detect(image)[0]
    return box, face_mesh.landmarks(image, box)


def _donor_image(image: np.ndarray) -> np.ndarray:
    """Another 'person': the astronaut mirrored, recoloured, rotated, scaled and moved on a new canvas."""
    flipped = np.ascontiguousarray(image[:, ::-1, [2, 1, 0]])
    matrix = cv2.getRotationMatrix2D((256, 256), -8.0, 0.8)
    matrix[:, 2] += (20, -15)
    return np.ascontiguousarray(cv2.warpAffine(flipped, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT_101))


@dataclass(frozen=True)
class Faces:
    """The astronaut, a donor of 'another identity' and another 'frame' of the astronaut with the mouth open."""

    target: LandmarkedFace
    box: FaceBox
    landmarks: FaceLandmarks
    unrefined: FaceLandmarks
    suit: FaceLandmarks
    donor: LandmarkedFace
    frame: LandmarkedFace


@pytest.fixture(scope="module")
def faces() -> Faces:
    image = astronaut_rgb()
    donor = _donor_image(image)
    with FaceDetector(max_faces=1) as detector, FaceMesh() as face_mesh:
        box, landmarks = _detect(detector, face_mesh, image)
        _, donor_landmarks = _detect(detector, face_mesh, donor)
        target = LandmarkedFace(image, landmarks.xy.copy(), "astronaut", "a")
        # Another "frame": the mouth edit that changes the most pixels (a wide-open mouth), moved a little.
        edits = [forge("region_mouth", target, np.random.default_rng(seed)).image for seed in range(12)]
        widest = max(edits, key=lambda edit: int(np.count_nonzero(edit != image)))
        frame = np.ascontiguousarray(np.roll(widest, (3, -4), axis=(0, 1)))
        _, frame_landmarks = _detect(detector, face_mesh, frame)
        return Faces(
            target=target,
            box=box,
            landmarks=landmarks,
            unrefined=face_mesh.landmarks(image, box, refine=False),
            suit=face_mesh.landmarks(image, FaceBox(300, 350, 420, 470, 1.0)),
            donor=LandmarkedFace(donor, donor_landmarks.xy.copy(), "donor", "b"),
            frame=LandmarkedFace(frame, frame_landmarks.xy.copy(), "astronaut#1", "a"),
        )


# --- face mesh --------------------------------------------------------------------------------------------


def test_face_mesh_finds_the_astronaut_features(faces: Faces) -> None:
    landmarks, box = faces.landmarks, faces.box
    xy = landmarks.xy.astype(np.float64)
    assert landmarks.points.shape == (468, 3) and landmarks.presence > 0.9
    eyes_y = xy[list(mesh.RIGHT_EYE + mesh.LEFT_EYE), 1].mean()
    nose_tip_y, mouth_y = xy[1, 1], xy[list(mesh.LIPS_OUTER), 1].mean()
    assert eyes_y < nose_tip_y < mouth_y
    assert xy[list(mesh.RIGHT_EYE), 0].mean() < xy[list(mesh.LEFT_EYE), 0].mean()  # subject's right on the left
    margin = 0.25 * box.width
    assert (xy[:, 0] > box.x0 - margin).all() and (xy[:, 0] < box.x1 + margin).all()
    assert (xy[:, 1] > box.y0 - margin).all() and (xy[:, 1] < box.y1 + margin).all()
    corners = float(np.linalg.norm(xy[mesh.LEFT_EYE_OUTER_CORNER] - xy[mesh.RIGHT_EYE_OUTER_CORNER]))
    assert 0.4 * box.width < corners < 0.9 * box.width
    # The BlazeFace eye keypoints sit between the mesh's eye corners.
    for loop, keypoint in ((mesh.RIGHT_EYE, box.keypoints[0]), (mesh.LEFT_EYE, box.keypoints[1])):
        assert np.linalg.norm(xy[list(loop)].mean(axis=0) - keypoint) < 0.15 * corners
    assert np.abs(faces.unrefined.xy - landmarks.xy).max() < 0.05 * corners


def test_face_mesh_presence_is_low_off_the_face(faces: Faces) -> None:
    assert faces.suit.presence < 0.1


def test_mesh_index_sets_match_mediapipe_connections() -> None:
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as C

    def edges(connections: list[Any]) -> set[frozenset[int]]:
        return {frozenset((c.start, c.end)) for c in connections}

    def loop_edges(loop: tuple[int, ...]) -> set[frozenset[int]]:
        return {frozenset((a, b)) for a, b in zip(loop, loop[1:] + loop[:1], strict=True)}

    assert loop_edges(mesh.FACE_OVAL) == edges(C.FACE_LANDMARKS_FACE_OVAL)
    assert loop_edges(mesh.RIGHT_EYE) == edges(C.FACE_LANDMARKS_RIGHT_EYE)
    assert loop_edges(mesh.LEFT_EYE) == edges(C.FACE_LANDMARKS_LEFT_EYE)
    assert loop_edges(mesh.LIPS_OUTER) | loop_edges(mesh.LIPS_INNER) == edges(C.FACE_LANDMARKS_LIPS)
    assert edges(C.FACE_LANDMARKS_RIGHT_EYEBROW) <= loop_edges(mesh.RIGHT_EYEBROW)
    assert edges(C.FACE_LANDMARKS_LEFT_EYEBROW) <= loop_edges(mesh.LEFT_EYEBROW)
    assert set(mesh.NOSE) == {i for e in edges(C.FACE_LANDMARKS_NOSE) for i in e}
    tessellation = edges(C.FACE_LANDMARKS_TESSELATION)
    triangle_edges = {
        frozenset(p) for t in mesh.TESSELATION_TRIANGLES for p in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))
    }
    assert len(mesh.TESSELATION_TRIANGLES) == 852 and triangle_edges == tessellation
    assert len(mesh.MESH_TRIANGLES) == 898


# --- families: exact masks and labels ---------------------------------------------------------------------


def _make(method: str, faces: Faces, seed: int, use_frame: bool = False) -> ForgedSample:
    donor = {"other_person": faces.donor, "same_person": faces.frame if use_frame else None}
    return forge(method, faces.target, np.random.default_rng(seed), donor.get(METHODS[method].donor))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_covers_exactly_the_changed_pixels(faces: Faces, method: str, seed: int) -> None:
    target = faces.target
    sample = _make(method, faces, seed, use_frame=seed == 1)
    assert sample.method == method and sample.family == METHODS[method].family
    image, mask = sample.image, sample.mask
    assert image.shape == target.image.shape and image.dtype == np.uint8
    assert mask.shape == target.shape and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    changed = np.any(image != target.image, axis=2)
    assert not np.any(changed & (mask == 0)), "a pixel outside the mask changed"
    assert np.array_equal(image[mask == 0], target.image[mask == 0])
    label = sample.label_mask()
    assert label.sum() > 200 and np.count_nonzero(changed & label) > 0.3 * label.sum()


@pytest.mark.parametrize("method", list(METHODS))
def test_labels_match_the_mask_regions(faces: Faces, method: str) -> None:
    target = faces.target
    sample = _make(method, faces, 5)
    assert sample.regions == regions_covered(sample.mask, target.points)
    assert sample.attribute == METHODS[method].attribute
    regions = sample.regions
    if METHODS[method].family == "face_swap":  # the rectangle may stop inside the eyebrows
        assert {"eye", "lip", "mouth", "nose", "skin"} <= regions and (method == "swap_rect" or "eyebrow" in regions)
    elif method == "region_mouth":
        assert {"lip", "mouth"} <= regions and not regions & {"eye", "eyebrow"}
    elif method == "region_eyes":
        assert "eye" in regions and not regions & {"lip", "mouth", "nose"}


def test_region_edit_takes_the_region_from_another_frame(faces: Faces) -> None:
    frame = faces.frame
    sample = _make("region_mouth", faces, 3, use_frame=True)
    assert sample.sources == ("astronaut", frame.source)
    assert {"lip", "mouth"} <= sample.regions


@pytest.mark.parametrize("method", list(METHODS))
def test_seeded_generation_is_reproducible(faces: Faces, method: str) -> None:
    first, again, other = (_make(method, faces, seed) for seed in (7, 7, 8))
    assert first.image.tobytes() == again.image.tobytes()
    assert first.mask.tobytes() == again.mask.tobytes()
    assert first.image.tobytes() != other.image.tobytes()


def test_self_blend_can_fix_its_hull_and_ratio_without_changing_the_other_draws(faces: Faces) -> None:
    target = faces.target
    fixed = self_blend(target, np.random.default_rng(4), hull="mesh", ratio=1.0)
    assert fixed.mask.max() == pytest.approx(1.0)
    whole = hull_mask(target.shape, target.points[list(HULL_SUBSETS["mesh"])])
    assert np.count_nonzero(fixed.mask >= 0.99) > 0.5 * np.count_nonzero(whole)
    # Fixing only the hull keeps the drawn ratio, and the same deformation: the masks are proportional.
    hull_only = self_blend(target, np.random.default_rng(4), hull="mesh")
    ratio = float(hull_only.mask.max())
    assert any(ratio == pytest.approx(r) for r in SBI_BLEND_RATIOS)
    np.testing.assert_allclose(hull_only.mask, fixed.mask * ratio, atol=1e-6)
    with pytest.raises(ValueError, match="unknown hull"):
        self_blend(target, np.random.default_rng(4), hull="ears")


def test_self_blend_can_force_a_resampled_or_a_sharpened_source(faces: Faces) -> None:
    target = faces.target
    resampled, sharpened = (
        self_blend(target, np.random.default_rng(2), hull="mesh", ratio=1.0, resample=mode) for mode in (True, False)
    )
    inside = (resampled.mask == 1.0) & (sharpened.mask == 1.0)
    assert np.count_nonzero(inside) > 0.3 * np.count_nonzero(resampled.mask)
    grey = {name: cv2.cvtColor(s.image, cv2.COLOR_RGB2GRAY) for name, s in (("r", resampled), ("s", sharpened))}
    detail = {name: np.abs(cv2.Laplacian(g, cv2.CV_32F))[inside].mean() for name, g in grey.items()}
    assert detail["r"] < detail["s"], detail  # down-and-up scaling removes detail, sharpening adds it


def test_methods_of_families() -> None:
    assert methods_of(["face_swap"]) == ["swap_hull", "swap_rect", "swap_ellipse"]
    assert "self_blend" not in methods_of(["face_swap", "region"])
    with pytest.raises(ValueError, match="unknown families"):
        methods_of(["nope"])


# --- realism ----------------------------------------------------------------------------------------------


def _blob(shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.float32)
    cv2.ellipse(mask, (50, 70), (30, 22), 20, 0, 360, 1.0, thickness=-1)
    return mask


def test_realism_keeps_masks_aligned() -> None:
    mask = _blob()
    config = RealismConfig(p_jitter=0.0, p_noise=0.0, p_blur=0.3, p_rescale=0.6, p_flip=0.5, p_h264=0.5)
    flipped = 0
    for seed in range(12):
        image = np.repeat((mask * 255).astype(np.uint8)[:, :, None], 3, axis=2)
        out, out_mask, steps = apply_realism(image, mask, np.random.default_rng(seed), config)
        flipped += "flip" in steps
        content = out.mean(axis=2) >= 128
        expected = out_mask >= 0.5
        iou = np.count_nonzero(content & expected) / np.count_nonzero(content | expected)
        assert iou > 0.95, (seed, steps, iou)
    assert 0 < flipped < 12


def test_hflip_and_no_realism() -> None:
    image = astronaut_rgb()[:100, :130]
    mask = _blob((100, 130))
    flipped_image, flipped_mask = hflip(image, mask)
    assert np.array_equal(flipped_image[:, ::-1], image) and np.array_equal(flipped_mask[:, ::-1], mask)
    same, same_mask, steps = apply_realism(image, mask, np.random.default_rng(0), NO_REALISM)
    assert steps == [] and np.array_equal(same, image) and np.array_equal(same_mask, mask)


def test_realism_is_reproducible_and_h264_keeps_the_size() -> None:
    image = astronaut_rgb()[40:141, 150:227]  # odd width and height
    coded = h264_roundtrip(image, crf=23, n_frames=2)
    assert coded.shape == image.shape and not np.array_equal(coded, image)
    mse = float(np.mean((coded.astype(np.float64) - image) ** 2))
    assert 10 * np.log10(255**2 / mse) > 25
    config = RealismConfig(p_h264=1.0)
    runs = [apply_realism(image, _blob(image.shape[:2]), np.random.default_rng(4), config) for _ in range(2)]
    assert runs[0][0].tobytes() == runs[1][0].tobytes() and runs[0][2] == runs[1][2]


def _h264_shape(image: np.ndarray) -> tuple[int, ...]:
    return h264_roundtrip(image, crf=30, n_frames=2).shape


def test_h264_realism_works_in_a_loader_worker_forked_after_the_parent_used_it() -> None:
    image = astronaut_rgb()[:200, :180]
    h264_roundtrip(image, crf=30)  # the parent forges first, as the validation set of a training run is
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_h264_shape, (image,)).get(timeout=60) == image.shape


# --- the split --------------------------------------------------------------------------------------------


def test_split_keeps_every_group_person_and_source_on_one_side() -> None:
    entries = load_split()
    for attribute in ("group", "source"):
        sides: dict[str, set[str]] = {}
        for entry in entries.values():
            sides.setdefault(getattr(entry, attribute), set()).add(entry.split)
        assert all(len(s) == 1 for s in sides.values()), attribute
    people: dict[str, set[str]] = {}
    for entry in entries.values():
        for person in entry.people:
            people.setdefault(person, set()).add(entry.split)
    assert {"obama", "trump", "einstein", "mead_m030", "john_lennon"} <= people.keys()
    assert all(len(s) == 1 for s in people.values())
    counts = {split: sum(e.split == split for e in entries.values()) for split in ("train", "val", "test")}
    total = sum(counts.values())
    assert (
        0.6 < counts["train"] / total < 0.8 and 0.1 < counts["val"] / total < 0.2 and 0.1 < counts["test"] / total < 0.2
    )


def test_split_file_is_reproducible_from_the_manifest(shared_data: Path) -> None:
    manifest = shared_data / "real_faces" / "MANIFEST.csv"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not present")
    assert set(read_manifest(manifest)) == set(load_split())
    assert dump_split(build_split(manifest)) == SPLIT_FILE.read_text()


# --- face bank, on-the-fly dataset, writer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 'people' as files of two sources (groups ``a`` and ``b``)."""
    root = tmp_path_factory.mktemp("reals")
    image = astronaut_rgb()
    cv2.imwrite(str(root / "a__astronaut.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "b__donor.png"), cv2.cvtColor(_donor_image(image), cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def bank(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FaceBank:
    cache = tmp_path_factory.mktemp("bank_cache")
    built = build_face_bank(real_dir, ["a__astronaut.png", "b__donor.png"], cache)
    assert len(list(cache.glob("*.npz"))) == 2
    return built


def test_face_bank_caches_faces(bank: FaceBank, real_dir: Path, tmp_path: Path) -> None:
    assert len(bank) == 2 and bank.groups == ["a", "b"]
    assert bank.other_people(0) == [1] and bank.other_frames(0) == []
    face = bank[0].face()
    assert face.image.shape == (400, 400, 3) and face.person == "a"
    assert regions_covered(np.ones(face.shape, dtype=bool), face.points) == frozenset(
        {"eye", "eyebrow", "lip", "mouth", "nose", "skin"}
    )


def test_a_saved_bank_loads_without_its_media_and_forges_the_same_items(bank: FaceBank, tmp_path: Path) -> None:
    path = tmp_path / "bank.npz"
    bank.save(path)
    loaded = FaceBank.load(path)
    assert [(f.source, f.group, f.frame_index, f.jpeg) for f in loaded.faces] == [
        (f.source, f.group, f.frame_index, f.jpeg) for f in bank.faces
    ]
    pairs = zip(loaded.faces, bank.faces, strict=True)
    assert all(np.array_equal(a.points, b.points) and a.box == b.box for a, b in pairs)
    original, again = (ForgeDataset(b, length=8, seed=5, realism=RealismConfig(p_h264=0.0))[3] for b in (bank, loaded))
    assert all(torch.equal(original[k], again[k]) for k in original)


def test_a_bank_saved_smaller_keeps_every_source(bank: FaceBank, tmp_path: Path) -> None:
    path = tmp_path / "small.npz"
    bank.save(path, per_source=1, jpeg_quality=70)
    loaded = FaceBank.load(path)
    assert loaded.sources == bank.sources and len(loaded) == len(bank.sources)
    assert sum(len(f.jpeg) for f in loaded.faces) < sum(len(f.jpeg) for f in bank.faces)
    assert np.abs(loaded[0].image().astype(int) - bank[0].image().astype(int)).mean() < 6


def test_gpu_training_imports_without_pyav_mediapipe_or_pydantic() -> None:
    """The lent GPU machine has none of them: the forge, the loop and `tools.gpu_train` must not need them."""
    code = (
        "import sys\n"
        "for name in ('av', 'mediapipe', 'pydantic'): sys.modules[name] = None\n"
        "import streamguard.forge.dataset, streamguard.train.loop, streamguard.train.monitor\n"
        "import streamguard.model.factory, tools.gpu_train\n"
        "from streamguard.forge.realism import h264_available; assert not h264_available()\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd=root
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_forge_dataset_items_match_the_training_batches(bank: FaceBank) -> None:
    dataset = ForgeDataset(bank, length=16, seed=3, realism=RealismConfig())
    crops = CropSet(
        crops=np.zeros((1, 256, 256, 3), np.uint8), masks=np.zeros((1, 256, 256), np.uint8),
        has_mask=np.ones(1, bool), is_fake=np.zeros(1, bool), sources=["x"], groups=["g"],
    )  # fmt: skip
    reference = CropDataset(crops)[0]
    kinds = set()
    for index in range(6):
        item = dataset[index]
        assert item.keys() == reference.keys()
        for key, value in item.items():
            assert value.shape == reference[key].shape and value.dtype == reference[key].dtype, key
        is_fake = bool(item["is_fake"])
        kinds.add(is_fake)
        assert (item["masks"].sum() > 0) == is_fake
        assert set(torch.unique(item["masks"]).tolist()) <= {0.0, 1.0}
    assert kinds == {False, True}
    again = ForgeDataset(bank, length=16, seed=3, realism=RealismConfig())[4]
    assert all(torch.equal(again[k], dataset[4][k]) for k in again)


@pytest.mark.parametrize("method", ["self_blend", "swap_hull"])
def test_paired_items_differ_only_where_the_mask_says(bank: FaceBank, method: str) -> None:
    dataset = ForgeDataset(bank, length=8, seed=2, paired=True, methods=[method], realism=NO_REALISM)
    real, fake = dataset.sample_pair(1)
    assert not real.context.is_fake and fake.context.is_fake and not real.mask.any() and fake.mask.any()
    assert real.context.sources[0] == fake.context.sources[0]
    changed = np.abs(real.context.image.astype(int) - fake.context.image.astype(int)).max(axis=2) > 0
    assert changed.any() and not (changed & (fake.context.mask <= 0)).any()
    # One face box for both: the crops match outside the mask and differ inside it.
    diff = np.abs(real.crop.astype(float) - fake.crop.astype(float)).mean(axis=2)
    inside = fake.mask > 0
    assert diff[inside].mean() > 5 * diff[~inside].mean()
    assert [dataset.item(i).context.is_fake for i in (2, 3)] == [False, True]


def test_paired_items_share_the_realism_draws(bank: FaceBank) -> None:
    dataset = ForgeDataset(bank, length=8, seed=5, paired=True, realism=RealismConfig(p_flip=1.0, p_h264=1.0))
    real, fake = dataset.sample_pair(0)
    assert real.context.realism == fake.context.realism and "flip" in real.context.realism
    again = ForgeDataset(bank, length=8, seed=5, paired=True, realism=RealismConfig(p_flip=1.0, p_h264=1.0))
    assert np.array_equal(again.sample_pair(0)[1].crop, fake.crop)


def test_paired_sampler_keeps_pairs_side_by_side() -> None:
    order = list(PairedSampler(10, torch.Generator().manual_seed(0)))
    assert sorted(order) == list(range(10))
    assert all(order[i] % 2 == 0 and order[i + 1] == order[i] + 1 for i in range(0, 10, 2))
    assert order != list(range(10))


def test_forge_dataset_families_filter_and_labels(bank: FaceBank) -> None:
    held_out = ForgeDataset(bank, length=8, seed=1, families=["self_blend", "region"], with_labels=True)
    assert held_out.methods == ["self_blend", "region_mouth", "region_eyes"]
    sample = held_out.sample(0, fake=True)
    assert sample.context.method in held_out.methods and sample.mask.any()
    item = held_out[0]
    assert item["regions"].shape == (6,) and item["attribute"].dtype == torch.long
    arrays = held_out.crop_arrays(4)
    assert len(CropSet(**arrays)) == 4 and arrays["masks"].dtype == np.uint8
    with pytest.raises(ValueError, match="no usable forgery method"):
        ForgeDataset(bank, methods=["swap_hull"], families=["region"])


def test_run_forge_writes_a_folder_scan_dataset_reads(real_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "forged"
    report = run_forge(real_dir, out, n=6, seed=1, cache_dir=tmp_path / "cache")
    assert report.n_fake == 6 and report.n_real == 6 and report.failed == []
    assert report.per_method == dict.fromkeys(METHODS, 1)
    items = scan_dataset(out)
    summary = summarize(items)
    assert summary["labels"] == {"fake": 6, "real": 6} and summary["fakes_with_masks"] == 6
    assert summary["groups"] == {"fake": dict.fromkeys(sorted(METHODS), 1), "real": {"faces": 6}}
    labels = json.loads(report.labels.read_text())["items"]
    assert len(labels) == 12 and report.contact_sheet.is_file()
    for item in items:
        entry = labels[item.rel_path]
        assert entry["label"] == ("fake" if item.is_fake else "real")
        if item.is_fake:
            mask = read_mask(item, 0, (400, 400))
            assert mask is not None and mask.sum() > 100
            assert entry["method"] == item.group and entry["attribute"] == METHODS[item.group].attribute
            assert set(entry["regions"]) <= {"eye", "eyebrow", "lip", "mouth", "nose", "skin"}
    again = run_forge(real_dir, tmp_path / "again", n=6, seed=1, cache_dir=tmp_path / "cache")
    for item in items:
        assert (again.out_dir / item.rel_path).read_bytes() == item.path.read_bytes()


def test_split_sides_keeps_people_together() -> None:
    shared = ["images/deepface__tests__unit__dataset__img1.jpg", "videos/video-retalking__examples__face__1.mp4"]
    people = [f"person{k:02d}/{j}.jpg" for k in range(40) for j in range(3)]
    train, val = split_sides([*shared, *people], {})
    assert "images/deepface__tests__unit__dataset__img1.jpg" in train
    assert not {"videos/video-retalking__examples__face__1.mp4"} & {*train, *val}  # the test side is left out
    sides = {f.split("/")[0]: ("val" if f in val else "train") for f in people}
    assert all(sides[f.split("/")[0]] == ("val" if f in val else "train") for f in people)
    assert 0 < sum(side == "val" for side in sides.values()) < 20


def test_forge_training_data_builds_train_and_validation(tmp_path: Path) -> None:
    image = astronaut_rgb()
    names = [f"p{k}" for k in range(20)]
    sides = {name: split_sides([f"{name}/x.png"], {}, val_share=0.5) for name in names}
    train_name = next(n for n in names if sides[n][0])
    val_name = next(n for n in names if sides[n][1])
    for name, picture in ((train_name, image), (val_name, _donor_image(image))):
        (tmp_path / "reals" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "reals" / name / "x.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    data = forge_training_data(
        tmp_path / "reals", tmp_path / "cache", n_val=4, families=["self_blend"], length=10, val_share=0.5
    )
    assert data.train.methods == ["self_blend"] and len(data.train) == 10
    assert data.train.bank.groups == [train_name] and len(CropSet(**data.val)) == 4
    assert set(data.val["sources"]) == {f"{val_name}/x.png"}
