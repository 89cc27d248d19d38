"""A bank of real faces detected once and cached: the raw material of on-the-fly forgery synthesis.

For every image and for evenly spaced frames of every video, the most confident BlazeFace face is found,
its 468-point mesh is computed, and a square *context crop* (`CONTEXT_SCALE` x the face box, resized to
`CONTEXT_SIZE`) is stored as JPEG together with the landmarks and the box in crop coordinates. One ``.npz``
per media file goes to a cache folder, keyed by the file's path, size, modification time and these
settings, so training never re-runs detection and a changed file is re-read.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamguard.errors import MediaDecodeError
from streamguard.forge import mesh
from streamguard.forge.jpeg import decode_jpeg, encode_jpeg
from streamguard.forge.landmarks import FaceMesh
from streamguard.forge.records import LandmarkedFace, RgbImage
from streamguard.vision.crop import CropTransform, FaceBox, square_crop_transform
from streamguard.vision.detection import FaceDetector

_LOG = logging.getLogger(__name__)

CONTEXT_SCALE = 2.0
"""Side of the cached context crop relative to the larger side of the face box (the model's crop is 1.3x)."""
CONTEXT_SIZE = 400
"""Side of the cached context crop in pixels: its 1.3x face crop is ~260 px, just above the model's 256."""
CACHE_VERSION = 1
JPEG_QUALITY = 95
NOSE_TIP, UPPER_LIP_CENTRE, LOWER_LIP_CENTRE = 1, 13, 14
MIN_PRESENCE = 0.5
"""Faces whose face-mesh presence is below this are dropped (bad landmarks)."""


@dataclass(frozen=True, slots=True)
class BankFace:
    """One cached face.

    Attributes:
        source: The media file, relative to the bank's root (e.g. ``videos/x.mp4``).
        frame_index: The frame's decode-order index (0 for an image).
        group: Identity group (people in one group may be the same person; other groups are other people).
        jpeg: The context crop, JPEG-encoded RGB.
        points: ``(468, 2)`` float32 face-mesh points in context-crop pixels.
        box: The BlazeFace box in context-crop pixels (keypoints included), the box the model's crop is cut from.
        presence: The face mesh's presence probability.
    """

    source: str
    frame_index: int
    group: str
    jpeg: bytes
    points: npt.NDArray[np.float32]
    box: FaceBox
    presence: float

    @property
    def ident(self) -> str:
        """``source`` for an image, ``source#frame`` for a video frame."""
        if self.frame_index == 0 and not _is_video(self.source):
            return self.source
        return f"{self.source}#{self.frame_index}"

    def image(self) -> RgbImage:
        """The decoded context crop, ``(CONTEXT_SIZE, CONTEXT_SIZE, 3)`` uint8 RGB."""
        try:
            return decode_jpeg(self.jpeg)
        except MediaDecodeError as e:
            raise MediaDecodeError(f"{self.ident}: corrupt cached face crop") from e

    def face(self) -> LandmarkedFace:
        """The context crop with its landmarks, ready for `streamguard.forge.families.forge`."""
        return LandmarkedFace(self.image(), self.points, self.ident, self.group)


class FaceBank:
    """Cached faces, indexed by source file and by identity group.

    Args:
        faces: The faces (kept in the given order).
    """

    def __init__(self, faces: Sequence[BankFace]) -> None:
        self.faces: list[BankFace] = list(faces)
        self._by_source: dict[str, list[int]] = defaultdict(list)
        self._by_group: dict[str, list[int]] = defaultdict(list)
        for index, face in enumerate(self.faces):
            self._by_source[face.source].append(index)
            self._by_group[face.group].append(index)
        self.poses = np.array([head_pose(face.points) for face in self.faces], dtype=np.float64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> BankFace:
        return self.faces[index]

    @property
    def groups(self) -> list[str]:
        """The identity groups, sorted."""
        return sorted(self._by_group)

    @property
    def sources(self) -> list[str]:
        """The media files with at least one face, sorted."""
        return sorted(self._by_source)

    def other_frames(self, index: int) -> list[int]:
        """Indices of the other cached frames of the same video (empty for an image)."""
        return [i for i in self._by_source[self.faces[index].source] if i != index]

    def other_people(self, index: int) -> list[int]:
        """Indices of faces of other identity groups; faces of other files when the bank has one group only."""
        face = self.faces[index]
        others = [i for group, members in self._by_group.items() if group != face.group for i in members]
        if others:
            return others
        return [i for i, other in enumerate(self.faces) if other.source != face.source]

    def closest_pose(self, index: int, candidates: Sequence[int]) -> int:
        """The candidate whose `head_pose` is nearest to face ``index``'s (the first of equals)."""
        distances = np.linalg.norm(self.poses[list(candidates)] - self.poses[index], axis=1)
        return int(candidates[int(np.argmin(distances))])

    def summary(self) -> dict[str, object]:
        """Counts for logs and checkpoint metadata."""
        return {"faces": len(self), "sources": len(self._by_source), "groups": len(self._by_group)}

    def save(self, path: Path, *, per_source: int | None = None, jpeg_quality: int | None = None) -> None:
        """Write the bank to one portable ``.npz`` (no pickles) that `load` reads without the media files.

        Made to carry a bank to another machine (a GPU training run): `per_source` keeps that many evenly spaced
        faces of each file, `jpeg_quality` re-encodes the context crops smaller.
        """
        faces = [self.faces[i] for i in self._kept(per_source)]
        jpegs = [face.jpeg if jpeg_quality is None else _reencode(face, jpeg_quality) for face in faces]
        found = [
            _Detected(face.frame_index, jpeg, face.points, _box_row(face.box), _keypoint_rows(face.box), face.presence)
            for face, jpeg in zip(faces, jpegs, strict=True)
        ]
        extra = {
            "source": np.array([f.source for f in faces], dtype=str),
            "group": np.array([f.group for f in faces], dtype=str),
        }
        _write_cache(path, found, extra)

    @classmethod
    def load(cls, path: Path) -> FaceBank:
        """A bank written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            sources, groups = [str(s) for s in data["source"]], [str(g) for g in data["group"]]
        faces = _read_cache(path, "", "")
        return cls([replace(face, source=s, group=g) for face, s, g in zip(faces, sources, groups, strict=True)])

    def _kept(self, per_source: int | None) -> list[int]:
        if per_source is None:
            return list(range(len(self.faces)))
        kept: list[int] = []
        for indices in self._by_source.values():
            step = max(1, len(indices) / per_source)
            kept.extend(indices[int(k * step)] for k in range(min(per_source, len(indices))))
        return sorted(kept)


def head_pose(points: npt.NDArray[np.float32]) -> tuple[float, float]:
    """A rough ``(yaw, pitch)`` of a face from its mesh, to pair swap donors with targets of similar pose.

    Yaw: the nose tip's offset from the midpoint of the outer eye corners along the eye line, per eye distance.
    Pitch: its offset across the eye line, per distance from the eye line to the mouth centre.
    """
    xy = points.astype(np.float64)
    right, left = xy[mesh.RIGHT_EYE_OUTER_CORNER], xy[mesh.LEFT_EYE_OUTER_CORNER]
    along = left - right
    eye_distance = max(float(np.linalg.norm(along)), 1e-6)
    along /= eye_distance
    across = np.array([-along[1], along[0]])
    middle = (right + left) / 2.0
    nose = xy[NOSE_TIP] - middle
    mouth = (xy[UPPER_LIP_CENTRE] + xy[LOWER_LIP_CENTRE]) / 2.0 - middle
    return float(nose @ along / eye_distance), float(nose @ across / max(float(mouth @ across), 1e-6))


def default_group(file: str) -> str:
    """Identity group of a file without a known one.

    The name before ``__`` when there is one (a source, as in the shared faces), else the folder holding the file
    (one folder per person), else the file's stem.
    """
    path = Path(file)
    if "__" in path.name:
        return path.name.split("__", 1)[0]
    return path.parent.name if path.parent.name else path.stem


def build_face_bank(
    root: Path,
    files: Iterable[str],
    cache_dir: Path,
    *,
    groups: dict[str, str] | None = None,
    frames_per_video: int = 16,
    min_face_px: int = 40,
) -> FaceBank:
    """Detect, landmark and cache the faces of media files (reading the cache where it is up to date).

    Args:
        root: Folder the file names are relative to (e.g. ``../shared/data/real_faces``).
        files: Media paths relative to ``root``.
        cache_dir: Where the per-file ``.npz`` caches go (created when missing).
        groups: Identity group of each file (e.g. from `streamguard.forge.split.load_split`); `default_group`
            for files not in it.
        frames_per_video: Evenly spaced frames cached per video.
        min_face_px: Faces smaller than this (larger box side, in frame pixels) are skipped.

    Returns:
        The bank, faces in file order. Files that fail to decode or hold no usable face are left out (logged).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    faces: list[BankFace] = []
    detector: FaceDetector | None = None
    face_mesh: FaceMesh | None = None
    try:
        for file in files:
            group = (groups or {}).get(file) or default_group(file)
            cache = cache_dir / _cache_name(root / file, file, frames_per_video, min_face_px)
            if not cache.is_file():
                if detector is None or face_mesh is None:
                    detector, face_mesh = FaceDetector(max_faces=1, min_face_px=min_face_px), FaceMesh()
                _write_cache(cache, _detect_file(root / file, frames_per_video, detector, face_mesh))
            faces.extend(_read_cache(cache, file, group))
    finally:
        if detector is not None:
            detector.close()
        if face_mesh is not None:
            face_mesh.close()
    return FaceBank(faces)


def list_media(root: Path) -> list[str]:
    """Image and video files below ``root`` (hidden ones skipped), relative posix paths, sorted."""
    from streamguard.datasets.folder_layout import media_kind

    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts) and media_kind(p)
    )


def context_crop(frame: RgbImage, box: FaceBox) -> tuple[RgbImage, CropTransform]:
    """The `CONTEXT_SCALE` square around a face box, resized to `CONTEXT_SIZE` (kept inside the frame)."""
    height, width = frame.shape[:2]
    transform = square_crop_transform(box, width, height, scale=CONTEXT_SCALE, size=CONTEXT_SIZE)
    return np.ascontiguousarray(transform.crop_region(frame), dtype=np.uint8), transform


@dataclass(frozen=True, slots=True)
class _Detected:
    frame_index: int
    jpeg: bytes
    points: npt.NDArray[np.float32]
    box: npt.NDArray[np.float32]  # x0, y0, x1, y1, score
    keypoints: npt.NDArray[np.float32]  # (6, 2)
    presence: float


def _detect_file(path: Path, frames_per_video: int, detector: FaceDetector, face_mesh: FaceMesh) -> list[_Detected]:
    # Imported here so that a saved bank loads where PyAV is not installed (a GPU training machine).
    from streamguard.datasets.media import read_frames

    try:
        frames = read_frames(path, max_frames=frames_per_video)
    except MediaDecodeError as e:
        _LOG.warning("forge bank: skipping %s: %s", path, e)
        return []
    found = []
    for frame in frames:
        boxes = detector.detect(frame.image)
        if not boxes:
            continue
        landmarks = face_mesh.landmarks(frame.image, boxes[0])
        if landmarks.presence < MIN_PRESENCE:
            continue
        crop, transform = context_crop(frame.image, boxes[0])
        found.append(_describe(frame.index, crop, transform, boxes[0], landmarks.xy, landmarks.presence))
    if not found:
        _LOG.warning("forge bank: no usable face in %s", path)
    return found


def _describe(
    index: int, crop: RgbImage, transform: CropTransform, box: FaceBox, points: npt.NDArray[np.float32], presence: float
) -> _Detected:
    jpeg = encode_jpeg(crop, JPEG_QUALITY)
    corners = transform.frame_to_crop([[box.x0, box.y0], [box.x1, box.y1]])
    keypoints = np.zeros((6, 2), dtype=np.float32)
    if box.keypoints:
        mapped = transform.frame_to_crop(np.asarray(box.keypoints[:6], dtype=np.float64))
        keypoints[: len(mapped)] = mapped
    return _Detected(
        frame_index=index,
        jpeg=jpeg,
        points=transform.frame_to_crop(points).astype(np.float32),
        box=np.array([*corners[0], *corners[1], box.score], dtype=np.float32),
        keypoints=keypoints,
        presence=float(presence),
    )


def _reencode(face: BankFace, quality: int) -> bytes:
    return encode_jpeg(face.image(), quality)


def _box_row(box: FaceBox) -> npt.NDArray[np.float32]:
    return np.array([box.x0, box.y0, box.x1, box.y1, box.score], dtype=np.float32)


def _keypoint_rows(box: FaceBox) -> npt.NDArray[np.float32]:
    keypoints = np.zeros((6, 2), dtype=np.float32)
    if box.keypoints:
        keypoints[: len(box.keypoints[:6])] = np.asarray(box.keypoints[:6], dtype=np.float32)
    return keypoints


def _write_cache(path: Path, found: list[_Detected], extra: dict[str, npt.NDArray[Any]] | None = None) -> None:
    blob = b"".join(d.jpeg for d in found)
    offsets = np.cumsum([0] + [len(d.jpeg) for d in found]).astype(np.int64)
    tmp = path.with_name(path.name + ".tmp.npz")
    arrays: dict[str, Any] = {
        "jpeg": np.frombuffer(blob, dtype=np.uint8),
        "offsets": offsets,
        "frame_index": np.array([d.frame_index for d in found], dtype=np.int64),
        "points": np.stack([d.points for d in found]) if found else np.zeros((0, 468, 2), np.float32),
        "box": np.stack([d.box for d in found]) if found else np.zeros((0, 5), np.float32),
        "keypoints": np.stack([d.keypoints for d in found]) if found else np.zeros((0, 6, 2), np.float32),
        "presence": np.array([d.presence for d in found], dtype=np.float32),
    }
    np.savez(tmp, **{**arrays, **(extra or {})})
    tmp.replace(path)


def _read_cache(path: Path, file: str, group: str) -> list[BankFace]:
    with np.load(path) as data:
        blob, offsets = data["jpeg"].tobytes(), data["offsets"]
        faces = []
        for k in range(len(data["frame_index"])):
            x0, y0, x1, y1, score = (float(v) for v in data["box"][k])
            keypoints = tuple((float(x), float(y)) for x, y in data["keypoints"][k])
            faces.append(
                BankFace(
                    source=file,
                    frame_index=int(data["frame_index"][k]),
                    group=group,
                    jpeg=blob[int(offsets[k]) : int(offsets[k + 1])],
                    points=np.ascontiguousarray(data["points"][k], dtype=np.float32),
                    box=FaceBox(x0, y0, x1, y1, score, keypoints),
                    presence=float(data["presence"][k]),
                )
            )
    return faces


def _cache_name(path: Path, file: str, frames_per_video: int, min_face_px: int) -> str:
    try:
        stat = path.stat()
        fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        fingerprint = "missing"
    settings = f"{CACHE_VERSION}|{file}|{fingerprint}|{frames_per_video}|{min_face_px}|{CONTEXT_SCALE}|{CONTEXT_SIZE}"
    key = hashlib.sha256(settings.encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file).stem)[-60:]
    return f"{stem}-{key}.npz"


def _is_video(file: str) -> bool:
    from streamguard.datasets.records import VIDEO_SUFFIXES

    return Path(file).suffix.lower() in VIDEO_SUFFIXES
