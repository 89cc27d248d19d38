#!/usr/bin/env bash
# Paper 4.4.2 on our data: fine-tune BASE on a few forgeries of the family it never saw (region), made from
# training-side people, then evaluate before and after on held-out people (model card, fine-tuning demo).
# Usage: tools/finetune_demo.sh BASE_CHECKPOINT [OUT_DIR]   (DEVICE and REAL override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1
OUT=${2:-runs/finetune}
REAL=${REAL:-../shared/data/real_faces}
SG=${SG:-.venv/bin/streamguard}
for side in train val; do
  [ -d "$OUT/$side" ] || $SG forge --real "$REAL" --out "$OUT/$side" --n 40 --methods region --split "$side" \
    --seed 5 --cache runs/face_cache
done
[ -f "$OUT/ft.pt" ] || $SG finetune --init "$BASE" --data "$OUT/train" --val "$OUT/val" --out "$OUT/ft.pt" \
  --epochs 10 --lr 1e-4 --batch-size 16 --frames-per-video 10 --device "${DEVICE:-cpu}"
for name in base ft; do
  ckpt=$BASE; [ "$name" = ft ] && ckpt=$OUT/ft.pt
  [ -f "$OUT/eval-$name/families.json" ] || $SG eval-families --checkpoint "$ckpt" --real "$REAL" \
    --out "$OUT/eval-$name" --unseen region --n 100 --cache runs/face_cache --device "${DEVICE:-cpu}"
done
