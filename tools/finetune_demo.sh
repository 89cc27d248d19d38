#!/usr/bin/env bash
# Paper 4.4.2 on our data: fine-tune BASE on a few forgeries of the family it never saw (FAMILY, default
# region), made from training-side people, then evaluate before and after on held-out people (model card,
# fine-tuning demo). Usage: tools/finetune_demo.sh BASE_CHECKPOINT [OUT_DIR]
# (FAMILY, DEVICE, REAL and the run's size N override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1
OUT=${2:-runs/finetune}
REAL=${REAL:-../shared/data/real_faces}
SG=${SG:-.venv/bin/streamguard}
FAMILY=${FAMILY:-region}
for side in train val; do
  [ -d "$OUT/$side" ] || $SG forge --real "$REAL" --out "$OUT/$side" --n "${N:-40}" --methods "$FAMILY" --split "$side" \
    --seed 5 --cache runs/face_cache
done
[ -f "$OUT/ft.pt" ] || $SG finetune --init "$BASE" --data "$OUT/train" --val "$OUT/val" --out "$OUT/ft.pt" \
  --epochs 10 --lr 1e-4 --batch-size 16 --frames-per-video 10 --device "${DEVICE:-cpu}"
for name in base ft; do
  ckpt=$BASE; [ "$name" = ft ] && ckpt=$OUT/ft.pt
  [ -f "$OUT/eval-$name/families.json" ] || $SG eval-families --checkpoint "$ckpt" --real "$REAL" \
    --out "$OUT/eval-$name" --unseen "$FAMILY" --n 100 --cache runs/face_cache --device "${DEVICE:-cpu}"
done
