#!/usr/bin/env bash
# Issue 16: does the SOML attribute head change detection? v2's recipe (ImageNet start, self_blend + region,
# extra reals, seed 0), 3 epochs with a 3-epoch cosine, once without and once with the head (+ deepfakes_dev/train
# fakes of a known method training the head). Same pool, same seed, same steps.
cd "$(dirname "$0")/.."
mkdir -p runs/attr
common=(--forge ../shared/data/real_faces --extra-real ../shared/data/deepfakes_dev/train/real
  --monitor ../shared/data/deepfakes_dev/val --seen-group ffpp_c40 --seen-group reenact_dpe
  --select val_auc --select dev_unseen_video_auc --variant effnet_lite0_yae
  --families self_blend --families region --pool 24000 --steps-per-epoch 300 --epochs 3 --batch-size 32
  --lr 2e-4 --lr-schedule cosine --weight-decay 1e-5 --cache runs/face_cache --workers 2 --device cpu --seed 0)
nice -n 5 .venv/bin/streamguard train "${common[@]}" --out runs/attr/without.pt > runs/attr/without.out 2>&1
nice -n 5 .venv/bin/streamguard train "${common[@]}" --attribute-head \
  --attribute-data ../shared/data/deepfakes_dev/train --out runs/attr/with.pt > runs/attr/with.out 2>&1
