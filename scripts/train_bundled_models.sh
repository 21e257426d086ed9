#!/usr/bin/env bash
# Reproduces the two bundled models from ../shared/data/cxr3 (or $CXR_DATA_DIR), from random
# initialisation (no pretrained weights are available offline). Resumable: rerun after an
# interruption and each run continues from its last finished epoch (runs/<name>/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

# Three-class: progressive resizing (8 epochs at 128 px, then 224 px) to fit a 2-core CPU budget.
"$PY" -m trainer train --classes covid,pneumonia,normal --out models/densenet121-3class \
  --warmup-size 128 --warmup-epochs 8 --epochs 21 --patience 5 --seed 1234 \
  --description "DenseNet121 trained from scratch on cxr3 (COVID-19 / other pneumonia / normal)"

# Binary: paediatric films only (one hospital for both classes: no age or source shortcut),
# initialised from the three-class network (transfer learning with our own chest X-ray weights).
"$PY" -m trainer train --classes pneumonia,normal --out models/densenet121-binary \
  --where age_group=pediatric --init models/densenet121-3class \
  --epochs 5 --patience 2 --learning-rate 3e-4 --seed 1234 \
  --description "DenseNet121 pneumonia vs normal, paediatric, fine-tuned from densenet121-3class"
