"""Print a training run's per-epoch figures from its JSON-lines log: python tools/train_log.py RUN.log.jsonl."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: Path) -> None:
    """One line per epoch: training loss and accuracy, synthetic validation, monitor AUCs."""
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "best":
            print(f"  best: epoch {event['epoch']}")
        if event["event"] != "epoch":
            continue
        train, val, monitors = event["train"], event["val"], event.get("monitors", {})
        heads = " ".join(f"{k[4:]} {val[k]:.3f}" for k in ("auc_latent", "auc_linear") if k in val)
        dev = " ".join(f"{k.split('_', 1)[1]} {v:.3f}" for k, v in monitors.items() if k.endswith("auc"))
        print(
            f"epoch {event['epoch']:2d} lr {train['lr']:.2e} loss {train['loss']:.3f} acc {train['acc']:.3f} | "
            f"val auc {val['auc']:.3f} ({heads}) iou {val['seg_iou']:.3f} | {dev}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
