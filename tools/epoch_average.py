r"""Score a run's kept epochs, alone and averaged (SWA-style), on the synthetic validation set and the monitor.

A training run keeps only its selected epoch; to keep them all, copy CKPT.state after every epoch into
RUN/epochs/epochN.state (e.g. a `cp` in a loop while the run trains). Every epoch and every run of
consecutive epochs (from epoch 1) is scored with both heads: synthetic validation AUC (the run's own
validation people, forged as in training), and frame/video AUC on `deepfakes_dev/val` overall and on the
unseen-generator pool. Batch-norm statistics are averaged with the weights (no re-estimation).

    python -m tools.epoch_average runs/v2s1/streamguard-v2s1.pt --families self_blend --families region \
        --extra-real ../shared/data/deepfakes_dev/train/real
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from streamguard.forge.dataset import forge_training_data
from streamguard.model.checkpoint import load_checkpoint
from streamguard.model.factory import build_network
from streamguard.model.variants import get_variant
from streamguard.train.data import CropSet
from streamguard.train.loop import validate
from streamguard.train.monitor import Monitor
from streamguard.train.pipeline import REAL_DEEPFAKE_FRAMES, labelled_crop_set

State = dict[str, torch.Tensor]


def average(states: list[State]) -> State:
    """The element-wise mean of state dicts (integer buffers rounded back to their type)."""
    return {k: (torch.stack([s[k].float() for s in states]).mean(0)).to(states[0][k].dtype) for k in states[0]}


def consecutive_runs(epochs: list[int]) -> list[list[int]]:
    """Every run of two or more consecutive epochs starting at epoch 1 or later."""
    chosen = [e for e in sorted(epochs) if e >= 1]
    return [
        chosen[i:j]
        for i in range(len(chosen))
        for j in range(i + 2, len(chosen) + 1)
        if chosen[j - 1] - chosen[i] == j - 1 - i
    ]


def main() -> None:
    """Print one line per epoch and per average: each head's AUCs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the run's checkpoint (its epochs/ folder beside it)")
    parser.add_argument("--real", type=Path, default=Path("../shared/data/real_faces"))
    parser.add_argument("--dev", type=Path, default=Path("../shared/data/deepfakes_dev/val"))
    parser.add_argument("--families", action="append", default=None)
    parser.add_argument("--extra-real", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=Path("runs/face_cache"))
    parser.add_argument("--variants", nargs="+", default=["effnet_lite0_yae", "effnet_lite0_linear"])
    args = parser.parse_args()
    _, meta = load_checkpoint(args.checkpoint)
    size = meta.input_size
    data = forge_training_data(
        args.real, args.cache, seed=int(meta.training["recipe"]["seed"]), families=args.families, n_val=512,
        size=size, extra_real=tuple(args.extra_real),
    )  # fmt: skip
    val = CropSet(**data.val)
    monitor = Monitor(
        "dev",
        labelled_crop_set(args.dev, args.cache, REAL_DEEPFAKE_FRAMES, size),
        frozenset({"ffpp_c40", "reenact_dpe"}),
    )
    paths = sorted((args.checkpoint.parent / "epochs").glob("epoch*.state"))
    states = {
        int(p.stem.removeprefix("epoch")): torch.load(p, map_location="cpu", weights_only=True)["model"] for p in paths
    }
    candidates = [(f"epoch {e}", states[e]) for e in sorted(states)]
    candidates += [
        (f"mean of epochs {run}", average([states[e] for e in run])) for run in consecutive_runs(list(states))
    ]
    for name, state in candidates:
        for variant in args.variants:
            network = build_network(get_variant(variant), pretrained=False)
            network.load_state_dict(state)
            synthetic, _ = validate(network, val, torch.device("cpu"))
            _, logits = validate(network, monitor.crops, torch.device("cpu"))
            dev = monitor.scores(logits)
            overall = f"{dev['dev_frame_auc']:.3f} / {dev['dev_video_auc']:.3f}"
            unseen = f"{dev['dev_unseen_frame_auc']:.3f} / {dev['dev_unseen_video_auc']:.3f}"
            print(
                f"{name:24s} {variant:22s} synthetic {synthetic['auc']:.3f}  dev {overall}  unseen {unseen}", flush=True
            )


if __name__ == "__main__":
    main()
