"""Probe whether a variant's encoder can memorise a few forged pairs (model card: the slow plain image).

Usage: .venv/bin/python tools/overfit_probe.py VARIANT [LOSS] [LR]
  VARIANT: any of `streamguard variants`; LOSS: ``act`` (the paper's activation loss, default) or ``linear``
  (a linear head on the pooled latent, cross-entropy). Prints batch accuracy every 25 of 150 Adam steps on
  32 training pairs (64 crops) of self_blend and face_swap; needs ../shared/data/real_faces.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from streamguard.forge.dataset import forge_training_data
from streamguard.model.losses import activation_loss
from streamguard.model.network import YShapedAutoencoder, fake_logit, half_activations
from streamguard.model.preprocess import crops_to_tensor, normalize
from streamguard.model.variants import get_variant


def main(variant: str, loss_kind: str = "act", lr: float = 1e-3) -> None:
    """Train the encoder 150 steps on 64 fixed crops and print the batch accuracy as it goes."""
    torch.set_num_threads(1)
    data = forge_training_data(
        Path("../shared/data/real_faces"), Path("runs/face_cache"), seed=0, families=["self_blend", "face_swap"],
        n_val=8, paired=True,
    )  # fmt: skip
    samples = [side for k in range(32) for side in data.train.sample_pair(2000 + k)]
    x_all = normalize(crops_to_tensor(np.stack([s.crop for s in samples])))
    y_all = torch.tensor([s.context.is_fake for s in samples])
    torch.manual_seed(0)
    model = YShapedAutoencoder(get_variant(variant))
    head = torch.nn.Linear(128, 1)
    params = list(model.parameters()) + (list(head.parameters()) if loss_kind == "linear" else [])
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=5e-4)
    start = time.time()
    for step in range(150):
        batch = torch.randperm(len(y_all))[:32]
        latent, y = model.encode(x_all[batch]), y_all[batch]
        if loss_kind == "linear":
            logit = head(latent.mean((2, 3))).squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logit, y.float())
        else:
            activations = half_activations(latent)
            logit, loss = fake_logit(activations), activation_loss(activations, ~y)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if step % 25 == 24:
            accuracy = ((logit > 0) == y).float().mean().item()
            print(f"{variant} {loss_kind} step {step + 1}: loss {loss.item():.3f} batch accuracy {accuracy:.2f} "
                  f"({time.time() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    args = sys.argv[1:4]  # VARIANT [LOSS] [LR]; main's defaults for those left out
    if len(args) == 3:
        main(args[0], args[1], float(args[2]))
    elif len(args) == 2:
        main(args[0], args[1])
    else:
        main(args[0])
