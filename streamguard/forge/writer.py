"""`streamguard forge`: write a reproducible set of reals and synthesised fakes in the eval folder layout.

Layout written under the output folder (read by `streamguard.datasets.scan_dataset`)::

    real/faces/000000.png ...          context crops of real faces (after stream realism)
    fake/<method>/000000.png ...       fakes, one folder per method
    masks/<method>/000000.png ...      their masks: round(255 * weight / peak); reads back as the label mask
    labels.json                        per item: label, method, family, attribute, regions, sources, realism
    contact_sheet.png                  samples with their label masks overlaid, for inspection

Images are the cached context crops (`streamguard.forge.bank.CONTEXT_SCALE` x the face box), so the eval's
face detector finds the forged face and no other. Item ``i`` is a pure function of ``(seed, i)``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamguard.forge.bank import FaceBank, build_face_bank
from streamguard.forge.dataset import MAX_ATTEMPTS, ContextSample, make_context_sample
from streamguard.forge.families import METHODS, ForgeError
from streamguard.forge.realism import RealismConfig
from streamguard.forge.records import RgbImage, label_mask, mask_to_uint8
from streamguard.forge.sources import forge_sources

_LOG = logging.getLogger(__name__)

REAL_GROUP = "faces"
LABELS_FILE = "labels.json"
CONTACT_SHEET = "contact_sheet.png"
CACHE_DIR = ".face_cache"
REGION_CODES = {"eye": "ey", "eyebrow": "eb", "lip": "li", "mouth": "mo", "nose": "no", "skin": "sk"}


@dataclass(frozen=True)
class ForgeReport:
    """What `run_forge` wrote.

    Attributes:
        out_dir: The dataset root.
        n_real: Real images written.
        n_fake: Fakes written.
        per_method: Fakes per method.
        labels: The labels JSON.
        contact_sheet: The contact sheet PNG.
        bank: Face-bank counts (faces, source files, identity groups).
        seconds: Wall time.
        failed: ``index: reason`` for items that could not be made.
    """

    out_dir: Path
    n_real: int
    n_fake: int
    per_method: dict[str, int]
    labels: Path
    contact_sheet: Path
    bank: dict[str, object]
    seconds: float
    failed: list[str] = field(default_factory=list)


def run_forge(
    real_dir: Path,
    out_dir: Path,
    n: int,
    seed: int,
    methods: list[str] | None = None,
    split: str | None = None,
    *,
    cache_dir: Path | None = None,
    realism: RealismConfig | None = None,
    frames_per_video: int = 16,
    image_format: str = "png",
) -> ForgeReport:
    """Write ``n`` reals and ``n`` fakes (methods in turn) in the eval folder layout, with labels and a contact sheet.

    Args:
        real_dir: Folder of real media (e.g. ``../shared/data/real_faces``).
        out_dir: Output dataset root (created; existing files with the same names are overwritten).
        n: Number of fakes, and of reals.
        seed: Seeds everything.
        methods: Forgery methods (keys of `streamguard.forge.families.METHODS`); all when None.
        split: Use only this split (``train``, ``val``, ``test``) of the shared faces.
        cache_dir: Face-bank cache; ``out_dir/.face_cache`` when None.
        realism: Stream realism; the default `RealismConfig` when None.
        frames_per_video: Frames cached per video.
        image_format: ``png`` (lossless) or ``jpg`` (quality 95).

    Raises:
        ForgeError: When a method, the split or the image format is unknown, or no face is found.
    """
    started = time.perf_counter()
    chosen = list(methods or METHODS)
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown or image_format not in ("png", "jpg"):
        raise ForgeError(f"unknown methods {unknown} or image format {image_format!r} (png or jpg)")
    files, groups = forge_sources(real_dir, split)
    bank = build_face_bank(
        real_dir, files, cache_dir or out_dir / CACHE_DIR, groups=groups, frames_per_video=frames_per_video
    )
    if len(bank) == 0:
        raise ForgeError(f"{real_dir}: no usable face in {len(files)} files")
    config = realism if realism is not None else RealismConfig()
    items: dict[str, Any] = {}
    sheet: list[tuple[ContextSample, str]] = []
    failed: list[str] = []
    per_method = dict.fromkeys(chosen, 0)
    for i in range(n):
        for method in (None, chosen[i % len(chosen)]):
            sample = _make(bank, seed, i, method, config)
            if sample is None:
                failed.append(f"{i}: no usable {method or 'real'} sample")
                continue
            rel = _write_item(out_dir, i, sample, image_format, items)
            if method is not None:
                per_method[method] += 1
            if len(sheet) < 48 and (method or i % 4 == 0):
                sheet.append((sample, rel))
    labels = out_dir / LABELS_FILE
    meta = {"seed": seed, "n": n, "methods": chosen, "split": split, "real_dir": str(real_dir)}
    meta |= {"realism": asdict(config), "bank": bank.summary(), "items": items}
    labels.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    contact = out_dir / CONTACT_SHEET
    cv2.imwrite(str(contact), cv2.cvtColor(contact_sheet(sheet), cv2.COLOR_RGB2BGR))
    n_fake = sum(per_method.values())
    return ForgeReport(
        out_dir=out_dir, n_real=len(items) - n_fake, n_fake=n_fake, per_method=per_method, labels=labels,
        contact_sheet=contact, bank=bank.summary(), seconds=time.perf_counter() - started, failed=failed,
    )  # fmt: skip


def _make(bank: FaceBank, seed: int, index: int, method: str | None, config: RealismConfig) -> ContextSample | None:
    """Item ``index`` (a real when ``method`` is None): its target cycles through a seeded order of the bank."""
    order = np.random.default_rng([seed, 2]).permutation(len(bank))
    rng = np.random.default_rng([seed, 0 if method is None else 1, index])
    for attempt in range(MAX_ATTEMPTS):
        target = int(order[(index + attempt * 7919) % len(bank)])
        try:
            sample = make_context_sample(bank, rng, method=method, realism=config, target_index=target)
        except ForgeError as e:
            _LOG.debug("forge item %d (%s): %s", index, method, e)
            continue
        if method is None or label_mask(sample.mask).any():
            return sample
    return None


def _write_item(out_dir: Path, index: int, sample: ContextSample, image_format: str, items: dict[str, Any]) -> str:
    name = f"{index:06d}"
    folder = f"fake/{sample.method}" if sample.is_fake else f"real/{REAL_GROUP}"
    rel = f"{folder}/{name}.{image_format}"
    _imwrite(out_dir / rel, sample.image)
    entry: dict[str, Any] = {"label": "fake" if sample.is_fake else "real", "sources": list(sample.sources)}
    entry["realism"] = list(sample.realism)
    if sample.is_fake:
        mask_rel = f"masks/{sample.method}/{name}.png"
        path = out_dir / mask_rel
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), mask_to_uint8(sample.mask))
        info = METHODS[sample.method]
        entry |= {"method": sample.method, "family": info.family, "attribute": sample.attribute}
        entry |= {"regions": sorted(sample.regions), "mask": mask_rel, "mask_peak": round(float(sample.mask.max()), 4)}
    items[rel] = entry
    return rel


def _imwrite(path: Path, image: RgbImage) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"cannot write {path}")


def contact_sheet(samples: list[tuple[ContextSample, str]], tile: int = 192, columns: int = 6) -> RgbImage:
    """A grid of samples, label masks tinted red with a green outline, captioned with method and regions."""
    if not samples:
        return np.zeros((tile, tile, 3), dtype=np.uint8)
    tiles = [_tile(sample, caption, tile) for sample, caption in samples]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[k : k + columns], axis=1) for k in range(0, len(tiles), columns)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0), dtype=np.uint8)


def _tile(sample: ContextSample, path: str, size: int) -> RgbImage:
    image = cv2.resize(sample.image, (size, size), interpolation=cv2.INTER_AREA)
    labels = cv2.resize(label_mask(sample.mask).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    tinted = image.copy()
    tinted[labels > 0] = (0.6 * image[labels > 0] + 0.4 * np.array([255, 0, 0])).astype(np.uint8)
    contours, _ = cv2.findContours(labels, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(tinted, contours, -1, (0, 255, 0), 1)
    short = ",".join(REGION_CODES[r] for r in sorted(sample.regions))
    caption = f"{sample.method or 'real'} {short}".strip()[:34]
    cv2.rectangle(tinted, (0, 0), (size, 30), (0, 0, 0), thickness=-1)
    cv2.putText(tinted, caption, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(tinted, Path(path).name, (3, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.34, (200, 200, 200), 1, cv2.LINE_AA)
    return np.ascontiguousarray(tinted, dtype=np.uint8)
