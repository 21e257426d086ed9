"""The model card: a bundle's README (intended use, limits, mitigations, figures, gate, how to retrain).

Derived from the bundle's metadata only, like the report (``trainer.report``), whose helpers for
tables and numbers it shares.
"""

from __future__ import annotations

from pathlib import Path

from trainer.population_report import card_population_lines
from trainer.report import REPORT_DIR, markdown_table, number, split_lines

MITIGATIONS = (
    "Per-image percentile contrast stretch in the shared preprocessing, so exposure and each"
    " hospital's processing carry less signal than anatomy.",
    "Squash to a square without letterbox padding: part of the data was already squashed to"
    " 224 px, and padding would give those sources away.",
    "Augmentation (training only): random resolution degradation, so sharpness cannot identify the"
    " 224 px sources; random burned-in letters and arrows on every class, so text on a film does not"
    " mean COVID-19; small rotation, shift and zoom; brightness, contrast, gamma and noise.",
    "No horizontal flips: laterality is anatomy (the heart is on the left) and a mirrored film is"
    " not one the model will meet.",
    "Balanced class weights n / (k * n_c), so the smaller classes count as much as the largest.",
    "Patient-disjoint train / validation / test split from a hash of the patient id (fixed seed);"
    " files with identical pixels are merged into one patient group, conflicting labels dropped.",
    "Per-source and per-age-group test figures are reported, so a shortcut shows as a gap between groups.",
)


VERSION2_MITIGATIONS = (
    "Preprocessing version 2 (train and serve alike): a light Gaussian low-pass that gives every film"
    " the same effective resolution (most COVID-19 films carry a 224 px resampling texture), and a black"
    " mask over the border margin and the four corners, where markers, 'PORTABLE' labels and letters live.",
    "Sampling balanced by (class, source, view) cells, then by class: inside a class every hospital and"
    " projection weighs the same, so neither predicts the label in the sampled training set.",
    "Augmentation drawn before the trunk features were cached: random rotation, shift and zoom, resolution"
    " degradation, burned-in letters and arrows, gamma, contrast, noise and black or white edge bars.",
    "Model chosen by within-source figures on validation (COVID-19 vs adult pneumonia, pneumonia vs"
    " normal inside RSNA per view, children), never by pooled AUC; the ablation table shows each"
    " defence on and off.",
    "Patient-disjoint train / validation / test split from a hash of the patient id (same seed as the"
    " initial bundle, so none of its training patients is in this test split).",
)


def mitigations(metadata: dict) -> tuple[str, ...]:
    """The defences the bundle was trained with: version-2 recipe or the original one."""
    if metadata.get("training", {}).get("recipe"):
        return VERSION2_MITIGATIONS
    return MITIGATIONS


def data_card_limitations(classes: list[str], where: dict[str, str] | None = None) -> list[str]:
    """The shortcut risks and gaps of the training data (from cxr3's data card) that apply to a model."""
    where = where or {}
    items = [
        "Internal validation only: the test split is patient-disjoint but drawn from the same public"
        " collections as the training data; expect lower figures on another hospital's films and"
        " evaluate locally (cxr-train evaluate) before use.",
        "Labels are those of the source collections, not re-read by a radiologist.",
        "Trained on frontal (PA/AP) 8-bit JPEG films; lateral views, other body parts and raw DICOM"
        " processing chains were not in the training data.",
    ]
    if where.get("age_group") == "pediatric":
        items.append(
            "Age: trained and tested on paediatric films only (Kermany, one hospital in Guangzhou);"
            " not validated on adults."
        )
    else:
        items.append(
            "Age confound: "
            + ("COVID-19 films are adult, " if "covid" in classes else "")
            + "pneumonia films are 94 % paediatric and normal films about half paediatric, so the"
            " model can use age (body size, bone maturity) as a cue; see the per-age-group figures."
        )
    items.append(
        "Source confound: each class comes from different hospitals, devices and image processing"
        + (" (COVID-19 films are mostly journal figures and web images)" if "covid" in classes else "")
        + ", so image style can stand in for the disease; see the per-source figures."
    )
    if "covid" in classes:
        items.append(
            "Burned-in text: many COVID-19 images carry arrows, letters or score overlays that no"
            " other class has; a model can learn 'annotation means COVID-19'."
        )
    if "normal" in classes and where.get("age_group") != "pediatric":
        items.append(
            "Resolution: the RSNA normals (and part of the Kermany normals) are 224 px squares"
            " squashed from non-square originals; other films are up to 512 px with their aspect"
            " ratio kept, so sharpness can identify the class."
        )
    if "pneumonia" in classes:
        items.append("'Pneumonia' mixes bacterial and viral (non-COVID) pneumonia; it is not an aetiology.")
    return items


def retrain_command(config: dict) -> str:
    """The ``cxr-train train`` command line that reproduces a run from its saved configuration."""
    defaults = {
        "backbone": "densenet121",
        "init": "none",
        "size": 224,
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "patience": 6,
        "seed": 1234,
        "min_val_patients": 20,
    }
    parts = [
        "cxr-train train",
        f"--data {config['data']}",
        f"--classes {','.join(config['classes'])}",
        f"--out {config['out']}",
    ]
    for key, default in defaults.items():
        if key == "seed" or config.get(key, default) != default:
            parts.append(f"--{key.replace('_', '-')} {config[key]}")
    if config.get("warmup_epochs"):
        parts.append(f"--warmup-size {config['warmup_size']} --warmup-epochs {config['warmup_epochs']}")
    parts += [f"--where {k}={v}" for k, v in (config.get("where") or {}).items()]
    if config.get("max_images"):
        parts.append(f"--max-images {config['max_images']}")
    if not config.get("augment", True):
        parts.append("--no-augment")
    return " \\\n    ".join(parts)


def model_card(metadata: dict, train_config: dict | None) -> str:
    """The bundle's README: what it is for, what it must not be used for, how well it does, how to redo it."""
    classes = metadata["classes"]
    metrics = metadata.get("metrics", {})
    test = metrics.get("test", {})
    training = metadata.get("training", {})
    lines = [
        f"# {metadata['name']} v{metadata['version']}",
        "",
        metadata.get("description", ""),
        "",
        "## Intended use",
        "",
        metadata.get("intended_use", ""),
        "",
        f"Classes, in output order: {', '.join(classes)}. Input: {metadata['preprocessing']['size']} px, grey"
        " replicated to RGB, values in [0, 1] after the shared preprocessing"
        f" (`{metadata['preprocessing']['id']}`).",
        "",
        "## Limitations",
        "",
    ]
    lines += [f"- {item}" for item in metadata.get("limitations", [])]
    lines += ["", "## How the shortcut risks were mitigated", ""]
    lines += [f"- {item}" for item in mitigations(metadata)]
    if train_config and train_config.get("where"):
        lines += [
            "- Training data restricted to " + ", ".join(f"{k}={v}" for k, v in train_config["where"].items()) + "."
        ]
    lines += ["", "## Data and training", "", f"Data: {metadata.get('data_source', '')}.", ""]
    if "split" in training:
        lines += split_lines(training["split"], classes) + [""]
    lines += [
        f"Backbone {metadata.get('backbone', '')}, initialisation `{training.get('init', 'none')}`,"
        f" seed {training.get('seed', '')}, class balancing: {training.get('class_balancing', '')}."
    ]
    overlap = training.get("init_bundle_test_overlap")
    if overlap:
        lines += [
            "",
            f"Initialised from {overlap['init_bundle']}: {overlap['test_patients_in_init_train']} test"
            " patients of this model were in that bundle's training split.",
        ]
    if test:
        lines += [
            "",
            "## Performance (held-out, patient-disjoint test split)",
            "",
            f"Accuracy {number(test['accuracy'])}, macro one-vs-rest AUC {number(test['macro_auc'])}"
            f" on {test['n']} images.",
            "",
        ]
        rows = [
            [c, e["n"], e.get("auc"), e["sensitivity"], e["specificity"], e["threshold"]]
            for c, e in test["per_class"].items()
        ]
        lines += markdown_table(["class", "n", "AUC", "sensitivity", "specificity", "threshold"], rows)
        binary = metrics.get("binary_operating_point")
        if binary:
            lines += [
                "",
                f"Threshold for sensitivity >= {binary['target_sensitivity']} on validation:"
                f" {binary['threshold']:.4f} (test sensitivity {number(binary['test_sensitivity'])},"
                f" specificity {number(binary['test_specificity'])}).",
            ]
        calibration = metadata.get("calibration", {})
        if "ece_test_before" in calibration:
            lines += [
                "",
                f"Calibrated by temperature {calibration['temperature']:.3f} (applied by the engine):"
                f" test ECE {number(calibration['ece_test_before'])} -> {number(calibration['ece_test_after'])}.",
            ]
        robustness = metrics.get("robustness")
        if robustness:
            worst = max(robustness["perturbations"].items(), key=lambda kv: kv[1]["macro_auc_drop"])
            lines += [
                "",
                f"Robustness: largest macro-AUC drop {number(worst[1]['macro_auc_drop'])} under"
                f" {worst[1]['description']}; full table in the report.",
            ]
        lines += [
            "",
            f"Full report: [{REPORT_DIR}/summary.md]({REPORT_DIR}/summary.md) (ROC curves, confusion matrix,"
            " reliability diagram, per-source and per-age-group figures, robustness).",
        ]
    lines += card_population_lines(metadata)
    lines += _gate_lines(metadata.get("ood"))
    lines += ["", "## How to retrain", ""]
    if train_config:
        lines += [
            "```",
            retrain_command(train_config),
            "```",
            "",
            "`train_config.json` holds the complete configuration and `split.csv` the exact split.",
            "",
        ]
    lines += [
        "To adapt to a new site, continue from this bundle: `--init <this folder>`, and evaluate with"
        " `cxr-train evaluate --model <bundle> --data <site data>`.",
        "",
        "## Changelog",
        "",
    ]
    lines += [f"- {version}: {text}" for version, text in metadata.get("changelog", {}).items()]
    return "\n".join(lines) + "\n"


def _gate_lines(entry: dict | None) -> list[str]:
    """The 'not a chest X-ray' gate in the card, with its measured rates, once ``fit-ood`` has run."""
    if not entry:
        return []
    lines = [
        "",
        "## 'Not a chest X-ray' gate",
        "",
        "Images whose pooled features lie far from the training radiographs, or whose layout is unlike an"
        " upright frontal film, are flagged as unreliable next to the probabilities and in the CSV.",
        f"Thresholds: {entry.get('threshold_rule', '')}.",
    ]
    loso = entry.get("leave_one_source_out") or {}
    if loso.get("overall") is not None:
        lines += [
            "",
            "Leave one source out (gate fitted without a source, then shown that source's films):"
            f" {loso['overall']:.2%} of real films flagged overall, at most {loso['worst_rate']:.2%}"
            f" ({loso['worst_source']}); targets <= 1% and <= 3%.",
        ]
    evaluation = entry.get("evaluation")
    if evaluation:
        target = (evaluation.get("targets") or {}).get("non_cxr_flagged_share_min", 0.95)
        met = evaluation["non_cxr_flagged_share"] >= target
        lines += [
            "",
            f"Measured: {evaluation['non_cxr_flagged_share']:.1%} of {evaluation['non_cxr_images']}"
            " non-radiographs flagged (photographs, documents, other modalities, rotated, inverted and"
            f" cropped films; target >= {target:.0%}: {'met' if met else '**not met**'});"
            f" {evaluation['cxr_wrongly_flagged_share']:.2%} of {evaluation['cxr_images']}"
            f" test radiographs wrongly flagged. Not covered: {evaluation.get('not_covered', '')}.",
        ]
        per_category = evaluation.get("per_category") or {}
        lines += ["", "| category | images | flagged |", "|---|---|---|"]
        lines += [f"| {name} | {v['images']} | {v['flagged_share']:.1%} |" for name, v in per_category.items()]
        if not met:
            lines += [
                "",
                "Thresholds wide enough to pass hospitals the gate never saw let part of the photographs, faces,"
                " CT/MR images and corner crops through: a flag means 'unreliable', but no flag does not prove"
                " that an image is a chest radiograph.",
            ]
    return lines


def write_model_card(folder: Path, metadata: dict, train_config: dict | None) -> Path:
    path = folder / "README.md"
    path.write_text(model_card(metadata, train_config), encoding="utf-8")
    return path
