"""End to end through the command line: train → eval (JSON) → fine-tune → export (ONNX parity)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamguard.datasets.toy import ToyDataset
from streamguard.export.exporter import onnx_parity

EVAL_KEYS = {"frame_auc", "video_auc", "eer", "ap", "acc", "ece", "seg_pixel_acc", "seg_iou", "n_frames",
             "n_videos", "n_images", "n_no_face"}  # fmt: skip


def streamguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamguard", *map(str, args)], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def trained(toy_dataset: ToyDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "toy.pt"
    run = streamguard("train", "--data", toy_dataset.root, "--out", out, "--epochs", "3", "--batch-size", "8",
                      "--frames-per-video", "3", "--val-fraction", "0.3", "--device", "cpu", "--seed", "1")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "best checkpoint" in run.stdout
    return out


def test_help_lists_every_command() -> None:
    run = streamguard("--help")
    assert run.returncode == 0
    for command in (
        "train",
        "finetune",
        "eval",
        "export",
        "variants",
        "forge",
        "run",
        "check-config",
        "alerts",
        "demo",
        "scan",
    ):
        assert command in run.stdout


def test_variants_json_lists_the_paper_variants_and_the_effnet_ones_with_params_and_macs() -> None:
    run = streamguard("variants", "--json")
    rows = {row["name"]: row for row in json.loads(run.stdout)}
    paper = {"ft_res", "ft", "deeper_ft", "proposed_old", "no_recon", "proposed_new", "proposed_res"}
    assert set(rows) == paper | {"effnet_lite0_yae", "effnet_lite0_linear", "effnet_lite2_yae", "effnet_lite2_linear"}
    lite0, lite2 = rows["effnet_lite0_yae"], rows["effnet_lite2_yae"]
    assert lite0["input_size"] == 160 and lite0["backbone"] == "efficientnet-lite0"
    assert rows["effnet_lite0_linear"]["classifier"] == "linear"
    assert lite2["params"] > lite0["params"] > 10 * rows["proposed_new"]["params"]
    assert rows["proposed_res"]["params"] == rows["proposed_new"]["params"]
    assert rows["proposed_new"]["params"] == 304_949
    assert 0.30e9 < rows["proposed_new"]["macs"] < 0.34e9
    assert rows["ft"]["macs"] < rows["deeper_ft"]["macs"] < rows["proposed_new"]["macs"]


def test_train_writes_log_and_checkpoint(trained: Path) -> None:
    events = [json.loads(line) for line in trained.with_name(trained.name + ".log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events if e["event"] == "epoch"] == ["epoch"] * 3
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    start = events[0]["training"]
    assert start["files"]["labels"]["fake"] > 0 and start["train"]["n_crops"] > 0 and start["validation"]["n_crops"] > 0


def test_eval_reports_every_metric_and_names_the_unreadable_files(
    trained: Path, toy_dataset: ToyDataset, tmp_path: Path
) -> None:
    report_path, masks = tmp_path / "eval.json", tmp_path / "masks"
    run = streamguard("eval", "--checkpoint", trained, "--data", toy_dataset.root, "--json", report_path,
                      "--frames-per-video", "4", "--device", "cpu", "--save-masks", masks)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert EVAL_KEYS <= set(report)
    assert report["n_images"] == 2 * 8 and report["n_videos"] == 2
    assert report["n_frames"] == 2 * 8 + 2 * 4
    assert report["n_failed"] == 2
    assert {f["path"] for f in report["failed"]} == {"fake/blend/broken.mp4", "real/truncated.jpg"}
    assert 0.0 <= report["frame_auc"] <= 1.0 and 0.0 <= report["seg_pixel_acc"] <= 1.0
    assert set(report["groups"]) >= {"blend"}
    blend = report["groups"]["blend"]
    assert EVAL_KEYS <= set(blend) and blend["n_fake_frames"] == 8 + 4
    assert blend["n_real_frames"] == report["n_real_frames"]  # no real/blend: paired with all reals
    assert len(list(masks.rglob("*.png"))) >= report["n_frames"]
    assert "broken.mp4" in run.stderr


def test_finetune_starts_from_the_checkpoint(trained: Path, toy_dataset: ToyDataset, tmp_path: Path) -> None:
    out = tmp_path / "ft.pt"
    run = streamguard("finetune", "--init", trained, "--data", toy_dataset.root, "--out", out, "--epochs", "1",
                      "--frames-per-video", "2", "--device", "cpu")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    from streamguard.model import load_checkpoint

    _, meta = load_checkpoint(out)
    assert meta.training["finetuned_from"] == str(trained)
    assert meta.training["recipe"]["lr"] == pytest.approx(1e-4)


def test_onnx_export_matches_pytorch(trained: Path, toy_dataset: ToyDataset, tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    run = streamguard("export", "--checkpoint", trained, "--format", "onnx", "--out", onnx_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "max |Δp_fake|" in run.stdout
    crops = np.random.default_rng(0).integers(0, 256, (5, 256, 256, 3), dtype=np.uint8)  # batch of 5 ≠ traced 2
    parity = onnx_parity(trained, onnx_path, crops)
    assert parity["max_abs_diff_p_fake"] < 1e-4
    assert parity["max_abs_diff_mask"] < 1e-3


def test_torchscript_export_runs(trained: Path, tmp_path: Path) -> None:
    import torch

    out = tmp_path / "model.pt"
    assert streamguard("export", "--checkpoint", trained, "--format", "torchscript", "--out", out).returncode == 0
    module = torch.jit.load(str(out))  # type: ignore[no-untyped-call]
    p_fake, mask = module(torch.zeros((3, 256, 256, 3), dtype=torch.uint8))
    assert p_fake.shape == (3,) and mask.shape == (3, 256, 256)


def test_bad_checkpoint_is_a_clear_error(toy_dataset: ToyDataset, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    run = streamguard("eval", "--checkpoint", bogus, "--data", toy_dataset.root)
    assert run.returncode == 2
    assert "bogus.pt" in run.stderr and "checkpoint" in run.stderr
