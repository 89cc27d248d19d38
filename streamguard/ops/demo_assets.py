"""Prepare the demo stream of the compose stack: a looping clip whose middle third is forged, and a model.

``python -m streamguard.ops.demo_assets --media DIR --models DIR`` writes ``DIR/demo.mp4`` (the clip of
`streamguard.demo.clip`) and, when ``DIR/streamguard.pt`` is missing, trains the demo's quick model there
(about a minute on two cores). Existing files are kept, so the one-shot service is cheap on restarts.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from streamguard.demo.clip import write_demo_clip
from streamguard.demo.model import train_demo_model

logger = logging.getLogger(__name__)

CLIP_NAME = "demo.mp4"
MODEL_NAME = "streamguard.pt"


def prepare(media_dir: Path, models_dir: Path) -> tuple[Path, Path]:
    """Write the demo clip and the demo model unless they exist.

    Args:
        media_dir: Folder of the clip.
        models_dir: Folder of the model checkpoint.

    Returns:
        The clip and model paths.
    """
    media_dir.mkdir(parents=True, exist_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    clip, model = media_dir / CLIP_NAME, models_dir / MODEL_NAME
    if not clip.is_file():
        write_demo_clip(clip, seconds=15.0, forged_span=(5.0, 10.0), seed=0)
        logger.info("wrote %s", clip)
    if not model.is_file():
        logger.info("training the demo model into %s (about a minute)", model)
        train_demo_model(model, device="cpu")
    return clip, model


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--media DIR --models DIR``."""
    parser = argparse.ArgumentParser(description="Write the compose stack's demo clip and model.")
    parser.add_argument("--media", type=Path, required=True, help="folder of demo.mp4")
    parser.add_argument("--models", type=Path, required=True, help="folder of streamguard.pt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare(args.media, args.models)


if __name__ == "__main__":
    main()
