"""Markdown for the population figures, shortcut probes and ablations (report and model card).

Targets are those of issue #12; each figure is printed with its target and whether it is met, so
a reader sees at once where the model falls short, instead of a pooled AUC that hides it.
"""

from __future__ import annotations

from typing import Any

#: (figure key, what it measures, target, "min" or "max")
TARGETS: dict[str, tuple[str, float, str]] = {
    "adult_pneumonia_read_as_pneumonia": ("adult non-COVID pneumonia read as pneumonia", 0.70, "min"),
    "adult_pneumonia_read_as_covid": ("adult non-COVID pneumonia read as COVID-19", 0.20, "max"),
    "adult_normal_read_as_covid": ("adult normals read as COVID-19", 0.08, "max"),
    "adult_normal_read_as_normal": ("adult normals read as normal", 0.80, "min"),
    "other_abnormal_read_as_covid": ("other abnormal (no pneumonia) read as COVID-19", 0.20, "max"),
    "covid_read_as_covid": ("COVID-19 read as COVID-19 (headline)", float("nan"), "min"),
    "auc_covid_vs_adult_pneumonia": ("AUC p(COVID-19): COVID-19 vs adult pneumonia", 0.88, "min"),
    "auc_covid_vs_adult_pneumonia_within_ieee8023": ("same, inside ieee8023 only", 0.88, "min"),
    "auc_covid_vs_other_abnormal": ("AUC p(COVID-19): COVID-19 vs other abnormal", 0.90, "min"),
    "auc_covid_vs_normal_within_ieee8023": ("AUC p(COVID-19): COVID-19 vs normal inside one source", 0.95, "min"),
    "auc_covid_vs_adult_normal": ("AUC p(COVID-19): COVID-19 vs adult normal (across sources)", float("nan"), "min"),
    "auc_pneumonia_vs_normal_within_rsna": ("AUC pneumonia vs normal inside RSNA (adults)", 0.92, "min"),
    "auc_pneumonia_vs_normal_within_rsna_ap": ("same, AP films only", 0.88, "min"),
    "auc_pneumonia_vs_normal_within_rsna_pa": ("same, PA films only", 0.88, "min"),
    "auc_abnormal_vs_normal_within_rsna": ("AUC any abnormality vs normal inside RSNA", 0.88, "min"),
    "auc_pneumonia_vs_normal_children": ("AUC pneumonia vs normal, children (Kermany)", 0.98, "min"),
    "auc_normal_ap_vs_pa_score": ("probe (c): AUC of the risk score, normal AP vs normal PA (0.5 = none)", 0.70, "max"),
}

BINARY_TARGETS = {"adult_normal_read_as_normal": 0.85, "adult_pneumonia_read_as_pneumonia": 0.80}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _figure_value(entry: dict) -> tuple[float | None, str]:
    if "auc" in entry:
        return entry["auc"], f"{entry['n_pos']} vs {entry['n_neg']}"
    return entry["rate"], str(entry["n"])


def figure_rows(figures: dict, binary: bool) -> list[list[str]]:
    rows = []
    for key, entry in figures.items():
        what, target, sense = TARGETS.get(key, (key, float("nan"), "min"))
        if binary and key in BINARY_TARGETS:
            target = BINARY_TARGETS[key]
        value, n = _figure_value(entry)
        if value is None:
            verdict = "too few films"
        elif target != target:
            verdict = ""
        else:
            met = value >= target if sense == "min" else value <= target
            verdict = "met" if met else "**not met**"
        bound = "" if target != target else (">= " if sense == "min" else "<= ") + f"{target:g}"
        rows.append([what, _fmt(value), n, bound, verdict])
    return rows


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def population_lines(metrics: dict, classes: list[str]) -> list[str]:
    """The report's population sections: figures vs targets, the per-population read table, ECE."""
    pop = metrics.get("population")
    if not pop:
        return []
    binary = "covid" not in classes
    lines = ["## Population figures (test split; headline = most probable class)", ""]
    lines += table(["figure", "value", "n", "target", ""], figure_rows(pop["figures"], binary))
    lines += ["", "### Read rates per source x age group x view", ""]
    rows = [
        [r["label"], r["source"], r["age_group"], r["view"], r["n"], *[r["read_as"][c] for c in classes]]
        for r in pop["table"]
    ]
    lines += table(["true label", "source", "age", "view", "n", *[f"read as {c}" for c in classes]], rows)
    if pop.get("calibration"):
        lines += ["", "### Calibration per population (top-label ECE, films of the model's classes)", ""]
        lines += table(["population", "n", "ECE"], [[k, v["n"], v["ece"]] for k, v in pop["calibration"].items()])
    return lines


def probe_lines(metrics: dict) -> list[str]:
    probes = metrics.get("probes")
    if not probes:
        return []
    lines = ["## Shortcut probes (test split)", ""]
    src = probes.get("source_probe") or {}
    for scope, entry in src.items():
        if entry:
            lines.append(
                f"- (a) linear probe on pooled features predicting the source, {scope.replace('_', ' ')}:"
                f" accuracy {entry['accuracy']:.3f} vs chance {entry['chance']:.3f} ({entry['n']} films)."
            )
    hidden = probes.get("lungs_hidden") or {}
    for name, entry in hidden.items():
        lines.append(
            f"- (b) lungs hidden, true {name} ({entry['n']} films): mean p({name}) {entry['mean_p_intact']:.3f}"
            f" -> {entry['mean_p_lungs_hidden']:.3f} ({entry['probability_surviving']:.0%} survives); read as"
            f" {name} {entry['read_as_true_class_intact']:.0%} -> {entry['read_as_true_class_lungs_hidden']:.0%}."
            + (
                " **Most of this call does not depend on the lung fields: the model reads something else"
                " (a shortcut).**"
                if entry["probability_surviving"] > 0.7 and name != "normal"
                else ""
            )
        )
    ap_pa = probes.get("normal_ap_vs_pa_score_auc") or {}
    if ap_pa.get("auc") is not None:
        lines.append(
            f"- (c) risk score AUC normal AP vs normal PA inside RSNA: {ap_pa['auc']:.3f}"
            f" ({ap_pa['n_pos']} AP vs {ap_pa['n_neg']} PA; 0.5 = the score ignores the projection)."
        )
    mass = probes.get("gradcam_mass_in_lungs") or {}
    for name, entry in mass.items():
        lines.append(
            f"- (d) Grad-CAM mass inside the lung fields, {name}: {entry['cam_mass_in_lungs']:.0%}"
            f" (the lung fields cover {entry['lung_area_share']:.0%} of the film)."
        )
    return lines


def ablation_lines(metrics: dict) -> list[str]:
    ablation = metrics.get("ablation")
    if not ablation:
        return []
    lines = [
        "## Ablations (defences on and off; cached-feature predictions, same split)",
        "",
        "Selection score = mean of the within-source AUCs and of the headline read rates the targets are set"
        " on (wrong reads as 1 - rate), minus a penalty when the normal-AP-vs-PA probe passes 0.7; the"
        " recipe is chosen on validation. Recipes differ in one thing from their reference: `*_no_mask`"
        " uses preprocessing version 1, `*_no_balance` class-balanced sampling only, `*_augment` adds one"
        " augmented copy of every film, `*_sqrt` weighs sources by the square root of their size.",
        "",
    ]
    rows = []
    for name, entry in ablation.items():
        test = entry["test"]
        rows.append(
            [
                name,
                ",".join(entry["recipe"]["variants"]),
                "yes" if entry["recipe"]["balanced"] else "no",
                entry["validation_selection_score"],
                entry["test_selection_score"],
                (test.get("auc_covid_vs_adult_pneumonia") or {}).get("auc"),
                (test.get("auc_pneumonia_vs_normal_within_rsna") or {}).get("auc"),
                (test.get("auc_normal_ap_vs_pa_score") or {}).get("auc"),
                (test.get("other_abnormal_read_as_covid") or {}).get("rate"),
            ]
        )
    lines += table(
        [
            "recipe",
            "variants",
            "balanced",
            "val score",
            "test score",
            "COVID vs adult pneu.",
            "pneu. vs normal in RSNA",
            "normal AP vs PA",
            "other -> COVID",
        ],
        rows,
    )
    return lines


def card_population_lines(metadata: dict) -> list[str]:
    """Model-card sections: validated populations, per-population figures, probes, where not to use."""
    metrics = metadata.get("metrics", {})
    if "population" not in metrics:
        return []
    classes = metadata["classes"]
    lines = ["", "## Populations validated", ""]
    for name, entry in (metadata.get("validated_populations") or {}).items():
        lines.append(
            f"- {name}: age groups {', '.join(entry['age_groups']) or 'none with >= 20 test films'};"
            f" views {', '.join(entry['views']) or 'none with >= 20 test films'}."
        )
    binary = "covid" not in classes
    lines += ["", "## Per-population figures against the targets", ""]
    lines += table(["figure", "value", "n", "target", ""], figure_rows(metrics["population"]["figures"], binary))
    lines += ["", "## Known shortcuts and what the probes show", ""]
    lines += probe_lines(metrics)[2:]
    lines += [
        "",
        "## Where not to use it",
        "",
        "- Not as a diagnosis, and not where the figures above say **not met** for your population.",
        "- Not on lateral films, other body parts, CT or photographs of films (the gate flags most of them,"
        " but not all).",
        "- Not on populations absent from the table of validated populations (e.g. COVID-19 in children).",
    ]
    return lines
