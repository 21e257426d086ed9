"""Population figures, balanced sampling and the population verdict: the numbers the v2 model
cards and model selection rest on, checked on hand-made cases where the answer is known."""

import numpy as np
import pytest

from cxr_desktop.core.image import DicomInfo
from cxr_desktop.core.ood import age_in_years, population_warning
from trainer import population
from trainer.population import Film
from trainer.top_training import TopRecipe, balanced_weights, class_balanced_weights, label_targets

CLASSES = ["covid", "pneumonia", "normal"]
RSNA, KERMANY = population.RSNA, population.KERMANY


def films_and_probs():
    films, probs = [], []
    for i in range(10):  # RSNA adults: pneumonia scores above normal whatever the view
        films.append(Film("pneumonia", RSNA, "adult", "AP" if i % 2 else "PA"))
        probs.append([0.1, 0.6 + i * 0.01, 0.3 - i * 0.01])
        films.append(Film("normal", RSNA, "adult", "PA" if i % 2 else "AP"))
        probs.append([0.1, 0.2 + i * 0.01, 0.7 - i * 0.01])
    for i in range(6):
        films.append(Film("covid", "BIMCV", "unknown", "frontal (unspecified)"))
        probs.append([0.8, 0.1, 0.1])
        films.append(Film("other_abnormal", RSNA, "adult", "AP"))
        probs.append([0.6 if i < 3 else 0.2, 0.2, 0.2 if i < 3 else 0.6])
    return films, np.array(probs)


def test_within_source_figures_compare_films_of_one_source():
    films, probs = films_and_probs()
    figures = population.three_class_figures(films, probs, CLASSES)
    assert figures["auc_pneumonia_vs_normal_within_rsna"]["auc"] == pytest.approx(1.0)
    assert figures["auc_pneumonia_vs_normal_within_rsna_ap"]["n_pos"] == 5
    assert figures["adult_pneumonia_read_as_pneumonia"] == {"rate": 1.0, "n": 10}
    assert figures["other_abnormal_read_as_covid"] == {"rate": 0.5, "n": 6}
    assert figures["auc_covid_vs_normal_within_ieee8023"]["auc"] is None  # too few films: no figure


def test_projection_probe_is_near_one_half_when_the_score_ignores_the_view():
    films, probs = films_and_probs()
    probe = population.pneumonia_figures(films, probs, CLASSES)["auc_normal_ap_vs_pa_score"]
    assert probe["n_pos"] == probe["n_neg"] == 5
    assert 0.3 <= probe["auc"] <= 0.7


def test_population_table_counts_every_film_once():
    films, probs = films_and_probs()
    rows = population.population_table(films, probs, CLASSES)
    assert sum(r["n"] for r in rows) == len(films)
    assert all(abs(sum(r["read_as"].values()) - 1.0) < 1e-9 for r in rows)


def test_balanced_weights_give_each_source_and_view_the_same_share_of_its_class():
    films = (
        [Film("normal", KERMANY, "pediatric", "AP")] * 300
        + [Film("normal", RSNA, "adult", "PA")] * 50
        + [Film("pneumonia", RSNA, "adult", "AP")] * 40
    )
    targets, used = label_targets([f.label for f in films], TopRecipe(classes=("pneumonia", "normal")))
    weights = balanced_weights(films, targets)
    assert used.all()
    kermany, rsna_normal, pneumonia = weights[:300].sum(), weights[300:350].sum(), weights[350:].sum()
    assert kermany == pytest.approx(rsna_normal)
    assert pneumonia == pytest.approx(kermany + rsna_normal)
    off = class_balanced_weights(targets)
    assert off[:350].sum() == pytest.approx(off[350:].sum())
    assert off[:300].sum() > 5 * off[300:350].sum()


def test_other_abnormal_films_follow_the_recipe():
    labels = ["other_abnormal", "normal"]
    _, used = label_targets(labels, TopRecipe(classes=("pneumonia", "normal")))
    assert used.tolist() == [False, True]
    targets, used = label_targets(
        labels, TopRecipe(classes=("pneumonia", "normal"), other_target={"pneumonia": 0.5, "normal": 0.5})
    )
    assert used.all() and targets[0].tolist() == [0.5, 0.5]


def test_population_verdict_from_the_dicom_header():
    validated = {"covid": {"age_groups": ["adult"]}, "normal": {"age_groups": ["adult", "pediatric"]}}
    assert age_in_years("006M") == pytest.approx(0.5)
    assert age_in_years("") is None and age_in_years("abc") is None
    assert population_warning(DicomInfo(patient_age="045Y"), validated) == ""
    assert "validated on for COVID-19" in population_warning(DicomInfo(patient_age="007Y"), validated)
    assert population_warning(DicomInfo(view_position="LL"), validated).startswith("not a frontal chest radiograph")
    only_children = {"normal": {"age_groups": ["pediatric"]}}
    assert population_warning(DicomInfo(patient_age="060Y"), only_children).startswith(
        "outside the population this model was validated on"
    )
    assert population_warning(None, validated) == ""


def test_the_scoring_path_warns_about_a_patient_outside_the_validated_population(tmp_path, tiny_engine, cxr3):
    """A child's DICOM film on a model validated on adults only: scored, with the second verdict."""
    import cv2

    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.core.scoring import Gate, score
    from tests.core.dicom_factory import make_dataset, write

    film = cv2.imread(str(next((cxr3 / "pneumonia").glob("kermany_*.jpg"))), cv2.IMREAD_GRAYSCALE)
    child = write(make_dataset(film, PatientAge="006Y"), tmp_path / "child.dcm")
    adult = write(make_dataset(film, PatientAge="054Y"), tmp_path / "adult.dcm")
    gate = Gate(validated={name: {"age_groups": ["adult"], "views": ["AP", "PA"]} for name in tiny_engine.classes})
    thresholds = dict.fromkeys(tiny_engine.classes, 0.5)
    rows = score([load_radiograph(child), load_radiograph(adult)], tiny_engine, gate, thresholds=thresholds)
    assert rows[0].ok and "outside the population this model was validated on" in rows[0].message
    assert "outside the population" not in rows[1].message


def test_selection_ignores_cross_source_aucs_and_counts_wrong_reads_against():
    base = {
        "auc_pneumonia_vs_normal_within_rsna": {"auc": 0.9, "n_pos": 40, "n_neg": 40},
        "adult_pneumonia_read_as_covid": {"rate": 0.2, "n": 50},
    }
    score = population.selection_score(base)
    assert score == pytest.approx((0.9 + 0.8) / 2)
    hospital_reader = dict(base, auc_covid_vs_adult_normal={"auc": 1.0, "n_pos": 300, "n_neg": 100})
    assert population.selection_score(hospital_reader) == pytest.approx(score)
    projection_reader = dict(base, auc_normal_ap_vs_pa_score={"auc": 0.9, "n_pos": 10, "n_neg": 30})
    assert population.selection_score(projection_reader) == pytest.approx(score - 0.2)
