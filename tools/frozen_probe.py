r"""A frozen encoder with a logistic probe trained on self-blend and region pairs: does fine-tuning matter?

The issue measured a frozen Lite0 probed on `deepfakes_dev/train`'s real fakes (it learnt their generators).
This probes on the forge's own pairs instead, the data v2 is fine-tuned on: every stage of the encoder
(strides 2-32) is pooled to its channel means and standard deviations, standardised, and a logistic regression
is fitted for each C, one line each: read C off the synthetic validation people's column; the monitor crops of
`deepfakes_dev/val` (`tools.gpu_pack`'s `.gpu/monitor.npz`) are only reported.

    python -m tools.gpu_pack --real ../shared/data/real_faces \
        --extra-real ../shared/data/deepfakes_dev/train/real --monitor ../shared/data/deepfakes_dev/val
    python -m tools.frozen_probe --pairs 4000 --checkpoint models/streamguard-v2.pt
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from streamguard.evaluate import metrics
from streamguard.forge.bank import FaceBank
from streamguard.forge.dataset import ForgeDataset, ForgeTrainingData, training_data_from_banks
from streamguard.forge.realism import RealismConfig
from streamguard.model.backbones import EfficientNetLiteEncoder
from streamguard.model.checkpoint import load_checkpoint
from streamguard.model.effnet import EffNetYNet
from streamguard.model.factory import normalization_of
from streamguard.model.preprocess import crops_to_tensor, normalize
from streamguard.model.variants import get_variant
from streamguard.train.data import CropSet
from streamguard.train.monitor import Monitor
from tools.gpu_train import FAMILIES, SEEN_GROUPS, packed_banks

CROP_SIZE = 160
C_GRID = (1e-3, 1e-2, 1e-1, 1.0)

_worker_data: ForgeDataset | None = None


def _start_worker(data_dir: Path) -> None:
    global _worker_data
    torch.set_num_threads(1)
    train, val = packed_banks(data_dir)
    _worker_data = _forge(train, val, n_val=2).train


def _forge(train: FaceBank, val: FaceBank, n_val: int) -> ForgeTrainingData:
    return training_data_from_banks(
        train, val, seed=0, families=list(FAMILIES), realism=RealismConfig(), paired=True, size=CROP_SIZE, n_val=n_val
    )


def _pair(index: int) -> tuple[np.ndarray, np.ndarray]:
    assert _worker_data is not None  # noqa: S101 (set by the pool's initializer)
    real, fake = _worker_data.sample_pair(index)
    return real.crop, fake.crop


def forged_pairs(data_dir: Path, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """``2 * n_pairs`` training crops (real, fake, real, ...) of the training people, and their labels."""
    with Pool(2, initializer=_start_worker, initargs=(data_dir,)) as pool:
        pairs = pool.map(_pair, range(n_pairs), chunksize=16)
    return np.stack([crop for pair in pairs for crop in pair]), np.tile(np.array([False, True]), n_pairs)


@torch.no_grad()
def pooled_features(encoder: EfficientNetLiteEncoder, norm: dict[str, list[float]], crops: np.ndarray) -> np.ndarray:
    """Channel means and standard deviations of every encoder stage, one row per crop."""
    rows = []
    for start in range(0, len(crops), 64):
        images = normalize(crops_to_tensor(crops[start : start + 64]), tuple(norm["mean"]), tuple(norm["std"]))
        maps = encoder(images.contiguous(memory_format=torch.channels_last))
        rows.append(torch.cat([s for m in maps for s in (m.mean(dim=(2, 3)), m.std(dim=(2, 3)))], dim=1).numpy())
    return np.concatenate(rows)


def encoders(checkpoint: Path | None) -> dict[str, EfficientNetLiteEncoder]:
    """ImageNet's Lite0 and, when given, the encoder of a fine-tuned checkpoint."""
    found = {"imagenet": EfficientNetLiteEncoder("efficientnet-lite0", CROP_SIZE, pretrained=True).eval()}
    if checkpoint is not None:
        network, _ = load_checkpoint(checkpoint)
        if not isinstance(network, EffNetYNet):
            raise SystemExit(f"{checkpoint}: not an EfficientNet variant")
        found[checkpoint.name] = network.encoder.eval()
    return found


def main() -> None:
    """Forge, extract, fit and print one line per encoder and C."""
    args = _parser().parse_args()
    torch.set_num_threads(2)
    started = time.monotonic()
    x, y = forged_pairs(args.data, args.pairs)
    val = CropSet(**_forge(*packed_banks(args.data), n_val=args.n_val).val)
    monitor = Monitor("dev", CropSet.load_portable(args.data / "monitor.npz"), SEEN_GROUPS)
    print(f"forged {len(x)} crops in {time.monotonic() - started:.0f} s", flush=True)
    norm = normalization_of(get_variant("effnet_lite0_linear"))
    for name, encoder in encoders(args.checkpoint).items():
        features = [pooled_features(encoder, norm, crops) for crops in (x, val.crops, monitor.crops.crops)]
        scaler = StandardScaler().fit(features[0])
        fx, fv, fm = (scaler.transform(f) for f in features)
        for c in C_GRID:
            probe = LogisticRegression(C=c, max_iter=2000).fit(fx, y)
            dev = monitor.scores(probe.decision_function(fm))
            print(
                f"{name} C={c:g}: train {metrics.roc_auc(y, probe.decision_function(fx)):.3f}, synthetic val "
                f"{metrics.roc_auc(val.is_fake, probe.decision_function(fv)):.3f}, dev frame/video "
                f"{dev['dev_frame_auc']:.3f}/{dev['dev_video_auc']:.3f}, unseen frame/video "
                f"{dev['dev_unseen_frame_auc']:.3f}/{dev['dev_unseen_video_auc']:.3f}",
                flush=True,
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".gpu"), help="what tools.gpu_pack wrote")
    parser.add_argument("--pairs", type=int, default=4000, help="training pairs forged (two crops each)")
    parser.add_argument("--n-val", type=int, default=512, help="synthetic validation crops (held-out people)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="also probe this checkpoint's encoder")
    return parser


if __name__ == "__main__":
    main()
