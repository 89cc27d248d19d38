#!/usr/bin/env bash
# Every figure of the model card for one checkpoint, written under OUT_DIR (JSON; tools/card_tables.py prints them):
#   eval.json      streamguard eval on deepfakes_dev/val (32 frames per video; unseen-generator pool)
#   scan.json      streamguard scan of deepfakes_dev/val at the default config with this model
#   scan_test_people.json   streamguard scan of the real_faces test people's videos (false alarms)
#   families/      streamguard eval-families on forgeries of held-out people (UNSEEN family marked)
# Usage: tools/v2_report.sh CHECKPOINT OUT_DIR [UNSEEN_FAMILY]   (SHARED=path/to/shared/data, DEVICE=cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1
OUT=$2
UNSEEN=${3:-face_swap}
SHARED=${SHARED:-${STREAMGUARD_SHARED_DATA:-../shared/data}}
SG=${SG:-.venv/bin/streamguard}
DEV=$SHARED/deepfakes_dev/val
mkdir -p "$OUT"
printf 'inference:\n  model: %s\n  device: %s\n' "$CKPT" "${DEVICE:-cpu}" > "$OUT/scan.yaml"
[ -f "$OUT/eval.json" ] || $SG eval --checkpoint "$CKPT" --data "$DEV" --json "$OUT/eval.json" \
  --seen-group ffpp_c40 --seen-group reenact_dpe --device "${DEVICE:-cpu}"
[ -f "$OUT/scan.json" ] || $SG scan "$DEV" --config "$OUT/scan.yaml" --json "$OUT/scan.json" --csv "$OUT/scan.csv"
if [ ! -f "$OUT/scan_test_people.json" ]; then
  mapfile -t VIDEOS < <(.venv/bin/python -c "
from streamguard.forge.split import files_in_split
print('\n'.join(f'$SHARED/real_faces/{f}' for f in files_in_split('test') if f.startswith('videos/')))")
  $SG scan "${VIDEOS[@]}" --config "$OUT/scan.yaml" --json "$OUT/scan_test_people.json"
fi
[ -f "$OUT/families/families.json" ] || $SG eval-families --checkpoint "$CKPT" --real "$SHARED/real_faces" \
  --out "$OUT/families" --unseen "$UNSEEN" --n 100 --cache runs/face_cache --device "${DEVICE:-cpu}"
.venv/bin/python tools/card_tables.py "$OUT"
