#!/usr/bin/env bash
# The six Table-2 variants on the same data with the same budget, evaluated the same way (model card, ablation).
# Data: a cached forged pool of the training people (self_blend + face_swap); the unseen family is region.
# Usage: tools/ablation.sh [OUT_DIR]   (EPOCHS, POOL, PAIRED, VARIANTS, DEVICE, WORKERS and REAL override the
# defaults; the model card's table is PAIRED=--no-paired over the six Table-2 variants)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ablation}
REAL=${REAL:-../shared/data/real_faces}
SG=${SG:-.venv/bin/streamguard}
mkdir -p "$OUT"
for v in ${VARIANTS:-ft_res ft deeper_ft proposed_old no_recon proposed_new}; do
  [ -f "$OUT/$v.pt" ] || $SG train --forge "$REAL" --variant "$v" --out "$OUT/$v.pt" \
    --families self_blend --families face_swap --pool "${POOL:-4000}" "${PAIRED:---no-paired}" \
    --epochs "${EPOCHS:-2}" --batch-size 32 \
    --lr 1e-3 --device "${DEVICE:-cpu}" --cache runs/face_cache --workers "${WORKERS:-2}" --seed 0
  [ -f "$OUT/eval-$v/families.json" ] || $SG eval-families --checkpoint "$OUT/$v.pt" --real "$REAL" \
    --out "$OUT/eval-$v" --unseen region --n 100 --cache runs/face_cache --device "${DEVICE:-cpu}"
done
