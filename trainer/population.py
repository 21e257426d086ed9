"""Population-level evaluation: figures per source, age group and view, and within-source AUCs.

Why: in cxr3 each class comes from different hospitals, age groups and projections, so a pooled
AUC mostly measures how well a model recognises the hospital. The figures here compare films that
share a source (and, where the data allow, a view and an age group), so a model can only score well
on them by reading the lungs. Model selection and the model card use these, never the pooled AUC.

Everything takes per-film metadata (``Film``: source, age group, view, true label) and the model's
probabilities in bundle class order; pure numpy / scikit-learn.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from cxr_desktop.core.decision import NEGATIVE_CLASS
from trainer.evaluation import expected_calibration_error

RSNA = "RSNA Pneumonia Detection Challenge"
KERMANY = "Kermany/Guangzhou pediatric chest X-ray"
IEEE8023 = "COVID-19 image data collection"
OTHER_CLASS = "other_abnormal"
MIN_PER_SIDE = 5


@dataclass(frozen=True)
class Film:
    label: str
    source: str
    age_group: str
    view: str

    @property
    def view_group(self) -> str:
        """AP, PA or unspecified: AP Supine and AP erect are AP films."""
        if self.view.startswith("AP"):
            return "AP"
        return "PA" if self.view == "PA" else "unspecified"


def films_of(samples: Iterable) -> list[Film]:
    """Films from ``trainer.data.Sample`` rows (or anything with the same attributes)."""
    return [Film(s.label, s.source, s.age_group, s.view) for s in samples]


def headline(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """What the user reads first: the most probable class of each film."""
    return np.asarray(classes)[np.argmax(probs, axis=1)]


def disease_score(probs: np.ndarray, classes: Sequence[str], disease: str) -> np.ndarray:
    return probs[:, list(classes).index(disease)]


def abnormality_score(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """1 - p(normal): the triage risk."""
    return 1.0 - probs[:, list(classes).index(NEGATIVE_CLASS)]


def _auc(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> dict:
    keep = positive | negative
    n_pos, n_neg = int(positive.sum()), int(negative.sum())
    value = None
    if n_pos >= MIN_PER_SIDE and n_neg >= MIN_PER_SIDE:
        value = float(roc_auc_score(positive[keep], scores[keep]))
    return {"auc": value, "n_pos": n_pos, "n_neg": n_neg}


def _mask(films: Sequence[Film], **wanted: str | Callable[[str], bool]) -> np.ndarray:
    def match(film: Film) -> bool:
        for key, value in wanted.items():
            actual = getattr(film, key)
            if callable(value) and not value(actual):
                return False
            if isinstance(value, str) and actual != value:
                return False
        return True

    return np.array([match(f) for f in films], dtype=bool)


def _rate(read: np.ndarray, who: np.ndarray, as_class: str) -> dict:
    n = int(who.sum())
    return {"rate": float(np.mean(read[who] == as_class)) if n else None, "n": n}


def population_table(films: Sequence[Film], probs: np.ndarray, classes: Sequence[str]) -> list[dict]:
    """One row per (true label, source, age group, view): n and the headline read rate per class."""
    read = headline(probs, classes)
    groups: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    for index, film in enumerate(films):
        groups[(film.label, film.source, film.age_group, film.view_group)].append(index)
    rows = []
    for (label, source, age, view), members in sorted(groups.items()):
        idx = np.array(members)
        rows.append(
            {
                "label": label,
                "source": source,
                "age_group": age,
                "view": view,
                "n": len(idx),
                "read_as": {c: float(np.mean(read[idx] == c)) for c in classes},
            }
        )
    return rows


def three_class_figures(films: Sequence[Film], probs: np.ndarray, classes: Sequence[str]) -> dict:
    """The figures issue #12 sets targets for, for a model with covid, pneumonia and normal outputs."""
    read = headline(probs, classes)
    p_covid = disease_score(probs, classes, "covid")
    covid = _mask(films, label="covid")
    adult_pneumonia = _mask(films, label="pneumonia", age_group="adult")
    adult_normal = _mask(films, label="normal", age_group="adult")
    other = _mask(films, label=OTHER_CLASS)
    figures = {
        "adult_pneumonia_read_as_pneumonia": _rate(read, adult_pneumonia, "pneumonia"),
        "adult_pneumonia_read_as_covid": _rate(read, adult_pneumonia, "covid"),
        "adult_normal_read_as_covid": _rate(read, adult_normal, "covid"),
        "adult_normal_read_as_normal": _rate(read, adult_normal, NEGATIVE_CLASS),
        "other_abnormal_read_as_covid": _rate(read, other, "covid"),
        "covid_read_as_covid": _rate(read, covid, "covid"),
        "auc_covid_vs_adult_pneumonia": _auc(p_covid, covid, adult_pneumonia),
        "auc_covid_vs_adult_pneumonia_within_ieee8023": _auc(
            p_covid, covid & _mask(films, source=IEEE8023), adult_pneumonia & _mask(films, source=IEEE8023)
        ),
        "auc_covid_vs_other_abnormal": _auc(p_covid, covid, other),
        "auc_covid_vs_normal_within_ieee8023": _auc(
            p_covid, covid & _mask(films, source=IEEE8023), _mask(films, label="normal", source=IEEE8023)
        ),
        "auc_covid_vs_adult_normal": _auc(p_covid, covid, adult_normal),
    }
    figures.update(pneumonia_figures(films, probs, classes))
    return figures


def pneumonia_figures(films: Sequence[Film], probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Pneumonia vs normal inside one source (RSNA adults, per view; Kermany children) and the
    projection probe: does the score tell normal AP from normal PA films?"""
    p_pneu = disease_score(probs, classes, "pneumonia")
    risk = abnormality_score(probs, classes)
    rsna = _mask(films, source=RSNA)
    pneu, normal = _mask(films, label="pneumonia"), _mask(films, label="normal")
    ap, pa = _mask(films, view_group="AP"), _mask(films, view_group="PA")
    read = headline(probs, classes)
    figures = {
        "auc_pneumonia_vs_normal_within_rsna": _auc(p_pneu, rsna & pneu, rsna & normal),
        "auc_pneumonia_vs_normal_within_rsna_ap": _auc(p_pneu, rsna & pneu & ap, rsna & normal & ap),
        "auc_pneumonia_vs_normal_within_rsna_pa": _auc(p_pneu, rsna & pneu & pa, rsna & normal & pa),
        "auc_abnormal_vs_normal_within_rsna": _auc(
            risk, rsna & (pneu | _mask(films, label=OTHER_CLASS)), rsna & normal
        ),
        "auc_pneumonia_vs_normal_children": _auc(
            p_pneu, pneu & _mask(films, age_group="pediatric"), normal & _mask(films, age_group="pediatric")
        ),
        "auc_normal_ap_vs_pa_score": _auc(risk, rsna & normal & ap, rsna & normal & pa),
        "adult_normal_read_as_normal": _rate(read, normal & _mask(films, age_group="adult"), NEGATIVE_CLASS),
        "adult_pneumonia_read_as_pneumonia": _rate(read, pneu & _mask(films, age_group="adult"), "pneumonia"),
    }
    return figures


def calibration_by_population(films: Sequence[Film], probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Top-label ECE per age group and per source, over films whose label is a model output."""
    known = np.array([f.label in classes for f in films])
    labels = np.array([list(classes).index(f.label) if f.label in classes else -1 for f in films])
    out: dict[str, dict] = {}
    for key in ("age_group", "source"):
        for value in sorted({getattr(f, key) for f in films}):
            who = known & _mask(films, **{key: value})
            if who.sum() >= 20:
                out[f"{key}={value}"] = {
                    "ece": expected_calibration_error(probs[who], labels[who]),
                    "n": int(who.sum()),
                }
    return out


#: Headline read rates the targets are set on: higher is better, and lower is better.
READ_GOOD = ("adult_pneumonia_read_as_pneumonia", "adult_normal_read_as_normal", "covid_read_as_covid")
READ_BAD = ("adult_pneumonia_read_as_covid", "other_abnormal_read_as_covid", "adult_normal_read_as_covid")


def selection_score(figures: dict) -> float:
    """What checkpoints and recipes are chosen by, on validation: the mean of the within-source AUCs
    and of the headline read rates the targets are set on (wrong reads counted as 1 - rate), minus
    a penalty when the risk score tells normal AP from normal PA films (AUC beyond 0.5 +- 0.2).
    The cross-source AUCs (e.g. COVID-19 vs adult normal) are left out: a model can score well on
    them by recognising the hospital."""

    def present(key: str) -> float | None:
        entry = figures.get(key) or {}
        return entry.get("auc", entry.get("rate"))

    values = [
        v["auc"]
        for k, v in figures.items()
        if k.startswith("auc_") and "ap_vs_pa" not in k and "adult_normal" not in k and v.get("auc") is not None
    ]
    values += [value for key in READ_GOOD if (value := present(key)) is not None]
    values += [1.0 - value for key in READ_BAD if (value := present(key)) is not None]
    probe = present("auc_normal_ap_vs_pa_score")
    penalty = max(0.0, abs(probe - 0.5) - 0.2) if probe is not None else 0.0
    return float(np.mean(values)) - penalty if values else float("nan")
