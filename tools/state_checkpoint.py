"""Write the latest epoch of a training run (the weights in CKPT.state) as a checkpoint, for diagnostics.

`streamguard train` keeps only the selected epoch as CKPT; its resumable state holds the last epoch's weights.
The written checkpoint carries CKPT's metadata and calibration (those of the selected epoch), so compare it
by AUC, never by its calibrated probabilities.

    python -m tools.state_checkpoint runs/v3b/streamguard-v3.pt runs/v3b/last.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from streamguard.model.checkpoint import load_checkpoint, save_checkpoint
from streamguard.train.loop import state_path


def main() -> None:
    """Write the state's weights as a checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    model, meta = load_checkpoint(args.checkpoint)
    state = torch.load(state_path(args.checkpoint), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    save_checkpoint(args.out, model, meta)
    print(f"epoch {state['epoch']} -> {args.out}")


if __name__ == "__main__":
    main()
