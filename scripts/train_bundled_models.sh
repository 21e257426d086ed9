#!/usr/bin/env bash
# Reproduces the two bundled version-2 models from ../shared/data/cxr3 (or $CXR_DATA_DIR) on a
# 2-core CPU in about two hours, resumably (rerun after an interruption: finished caches and recipes
# are kept in runs/v2/). The version-1 three-class bundle (v1.0.1, taken from git history at commit
# V1_COMMIT below) is the starting point:
# its trunk up to dense block 3 is frozen and cached, the last dense block and head are retrained
# (trainer.retrain_top). No pretrained weights are needed or downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
V1_COMMIT=09b2dc1d14bfc7ab5eaa03553ae027b03fa153ab
INIT=${CXR_INIT_BUNDLE:-runs/init/densenet121-3class-v1}
if [ ! -f "$INIT/model.keras" ]; then
  mkdir -p "$INIT"
  for f in model.keras metadata.json ood.npz split.csv; do
    git show "$V1_COMMIT:models/densenet121-3class/$f" > "$INIT/$f"
  done
fi

# Lung fields for the probes: V7 Labs masks from the torchxrayvision wheel (not installed, not copied).
if [ ! -f runs/lungs/unet.keras ]; then
  mkdir -p runs/lungs/wheel
  "$PY" -m pip download --no-deps --quiet torchxrayvision==1.5.7 -d runs/lungs/wheel
  unzip -o -q runs/lungs/wheel/torchxrayvision-1.5.7-py3-none-any.whl \
    torchxrayvision/data/semantic_masks_v7labs_lungs.zip -d runs/lungs/wheel
  unzip -o -q runs/lungs/wheel/torchxrayvision/data/semantic_masks_v7labs_lungs.zip -d runs/lungs/masks
  "$PY" -m trainer lung-unet --masks runs/lungs/masks/semantic_masks_v7labs_lungs --out runs/lungs/unet.keras
fi

# The recipes and their ablations (each defence on and off), then the chosen ones exported.
"$PY" -m trainer retrain-top --init "$INIT" --recipes \
  fourclass,threeclass_other_normal,fourclass_no_mask,fourclass_sqrt,threeclass_no_balance,threeclass_augment,binary,binary_no_balance,binary_augment
"$PY" -m trainer retrain-top --init "$INIT" --export "${THREE_RECIPE:-threeclass_augment}" \
  --out models/densenet121-3class --name densenet121-3class --version 2.0.0 \
  --compare fourclass,fourclass_no_mask,fourclass_sqrt,threeclass_other_normal,threeclass_no_balance,threeclass_augment \
  --description "DenseNet121 COVID-19 / pneumonia / normal (+ other abnormality), v2 data, shortcut defences"
"$PY" -m trainer retrain-top --init "$INIT" --export "${BINARY_RECIPE:-binary_augment}" \
  --out models/densenet121-binary --name densenet121-binary --version 2.0.0 \
  --compare binary,binary_no_balance,binary_augment \
  --description "DenseNet121 pneumonia vs normal, adults and children, v2 data, shortcut defences"
"$PY" -m trainer fit-ood --model models/densenet121-3class
"$PY" -m trainer fit-ood --model models/densenet121-binary
"$PY" -m trainer probe --model models/densenet121-3class --lung-model runs/lungs/unet.keras
"$PY" -m trainer probe --model models/densenet121-binary --lung-model runs/lungs/unet.keras
