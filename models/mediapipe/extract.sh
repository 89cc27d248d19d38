#!/usr/bin/env bash
# Re-extract the bundled mediapipe models (and their licence) from the mediapipe 0.10.21 wheel,
# verify them against SHA256SUMS, and only then copy them next to this script.
#
# Usage: bash models/mediapipe/extract.sh
# Environment:
#   PYTHON           interpreter whose pip downloads the wheel (default: python3); it needs a Python
#                    version that mediapipe 0.10.21 ships a wheel for (3.9-3.12).
#   MEDIAPIPE_WHEEL  path of an already downloaded mediapipe-0.10.21 wheel; skips the download.
# The model files are the same in every platform's wheel, so any one of them will do: the
# checksums decide.
set -euo pipefail

readonly VERSION="0.10.21"
readonly MEMBERS=(
  "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"
  "mediapipe/modules/face_detection/face_detection_short_range.tflite"
  "mediapipe/modules/face_landmark/face_landmark.tflite"
  "mediapipe-${VERSION}.dist-info/LICENSE"
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in unzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "extract.sh: '$tool' is required" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

wheel="${MEDIAPIPE_WHEEL:-}"
if [[ -z "$wheel" ]]; then
  "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: "mediapipe==${VERSION}" -d "$tmp"
  shopt -s nullglob
  wheels=("$tmp"/mediapipe-"${VERSION}"-*.whl)
  shopt -u nullglob
  [[ ${#wheels[@]} -eq 1 ]] || { echo "extract.sh: expected one downloaded wheel in $tmp" >&2; exit 1; }
  wheel="${wheels[0]}"
fi

mkdir "$tmp/out"
unzip -q -j -o "$wheel" "${MEMBERS[@]}" -d "$tmp/out"
(cd "$tmp/out" && sha256sum --check --strict "$here/SHA256SUMS")

for member in "${MEMBERS[@]}"; do
  cp -- "$tmp/out/$(basename "$member")" "$here/"
done
echo "extract.sh: mediapipe ${VERSION} models verified and copied to $here"
