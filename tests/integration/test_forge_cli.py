"""`streamguard forge` end to end: a folder of reals in, an eval-layout folder that `scan_dataset` reads out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

from streamguard.datasets import scan_dataset, summarize
from streamguard.datasets.toy import astronaut_rgb


def streamguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamguard", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def test_forge_command_writes_the_eval_layout(tmp_path: Path) -> None:
    reals = tmp_path / "reals"
    reals.mkdir()
    image = astronaut_rgb()
    cv2.imwrite(str(reals / "a__astronaut.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(reals / "b__mirrored.png"), cv2.cvtColor(image[:, ::-1, ::-1], cv2.COLOR_RGB2BGR))
    out = tmp_path / "forged"
    run = streamguard("forge", "--real", reals, "--out", out, "--n", "4", "--seed", "3",
                      "--methods", "self_blend,region")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    summary = summarize(scan_dataset(out))
    assert summary["labels"] == {"fake": 4, "real": 4} and summary["fakes_with_masks"] == 4
    assert set(summary["groups"]["fake"]) <= {"self_blend", "region_mouth", "region_eyes"}  # type: ignore[index]
    assert len(json.loads((out / "labels.json").read_text())["items"]) == 8
    assert (out / "contact_sheet.png").is_file()
    bad = streamguard("forge", "--real", reals, "--out", out, "--n", "1", "--methods", "nope")
    assert bad.returncode == 2 and "unknown forgery methods" in bad.stderr


def test_eval_families_writes_a_row_per_family(tmp_path: Path, shared_data: Path) -> None:
    import torch

    from streamguard.forge.families import FAMILIES
    from streamguard.model import CheckpointMeta, YShapedAutoencoder, get_variant, save_checkpoint

    torch.manual_seed(0)
    checkpoint = tmp_path / "m.pt"
    save_checkpoint(checkpoint, YShapedAutoencoder(get_variant("ft_res")), CheckpointMeta(variant="ft_res"))
    out = tmp_path / "families"
    run = streamguard(
        "eval-families", "--checkpoint", checkpoint, "--real", shared_data / "real_faces", "--out", out,
        "--unseen", "region", "--n", "3", "--cache", tmp_path / "cache", "--device", "cpu",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((out / "families.json").read_text())
    assert list(results) == list(FAMILIES)
    for family, row in results.items():
        assert row["n_frames"] >= 4, family  # reals and fakes of held-out people
        labels = json.loads((out / family / "labels.json").read_text())
        assert labels  # the forged test set of this family was written
    assert "region (unseen)" in run.stdout
