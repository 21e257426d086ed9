"""The version-2 recipes and their ablations, by name: what ``retrain-top`` trains.

Each ablation changes one thing against a reference of the same model, so the ablation table in
the model card reads as "this defence is worth so much". References train on the clean variant
(version-2 preprocessing, no augmented copies), which is the cheapest:
- ``*_no_balance``: class-balanced sampling only, instead of balancing (class, source, view) cells;
- ``*_sqrt``: inside a class, sources weigh by the square root of their size instead of equally
  (views inside a source stay equal): a middle way when one source holds most of a class;
- ``*_no_mask``: preprocessing version 1 (no low-pass, no border/corner mask);
- ``*_augment``: the clean variant plus one augmented copy of every film (the full recipe);
- ``threeclass_unseen_*``: the full recipe with one COVID-19 source kept out of training and
  validation, scored on all of that source's films (a hospital the model never saw).
For the user-facing three-class model, ``other_abnormal`` films are either a fourth output
(``fourclass``) or trained as "no COVID-19, no pneumonia" (``threeclass_other_normal``, chosen on
validation); the mask and source-weighting ablations were run on the four-output model, the
balancing and augmentation ablations on the chosen three-output one. For the binary model
``other_abnormal`` films are left out.
"""

from __future__ import annotations

from dataclasses import replace

from trainer.top_training import TopRecipe

FOUR = ("covid", "pneumonia", "normal", "other_abnormal")
THREE = ("covid", "pneumonia", "normal")
BINARY = ("pneumonia", "normal")
CLEAN = ("v2_clean",)


def recipes() -> dict[str, TopRecipe]:
    four = TopRecipe(classes=FOUR, variants=CLEAN)
    binary = TopRecipe(classes=BINARY, variants=CLEAN)
    return {
        "fourclass": four,
        "threeclass_other_normal": replace(four, classes=THREE, other_target={"normal": 1.0}),
        "fourclass_no_mask": replace(four, variants=("v1_clean",)),
        "fourclass_sqrt": replace(four, source_balance=0.5),
        "threeclass_no_balance": replace(four, classes=THREE, other_target={"normal": 1.0}, balanced=False),
        "threeclass_augment": replace(
            four, classes=THREE, other_target={"normal": 1.0}, variants=("v2_clean", "v2_aug1")
        ),
        "threeclass_unseen_bimcv": replace(
            four,
            classes=THREE,
            other_target={"normal": 1.0},
            variants=("v2_clean", "v2_aug1"),
            exclude_sources=("COVID-19 Radiography Database, COVID folder",),
        ),
        "threeclass_unseen_cxnet": replace(
            four,
            classes=THREE,
            other_target={"normal": 1.0},
            variants=("v2_clean", "v2_aug1"),
            exclude_sources=("COVID-CXNet chest X-ray collection",),
        ),
        "binary": binary,
        "binary_no_balance": replace(binary, balanced=False),
        "binary_augment": replace(binary, variants=("v2_clean", "v2_aug1")),
    }
