"""A tiny random-weight bundle written through the real bundle writer: plumbing tests only."""

from __future__ import annotations

from pathlib import Path

CLASSES3 = ["covid", "pneumonia", "normal"]


def tiny_metadata(classes: list[str], size: int, gradcam_layer: str) -> dict:
    from cxr_desktop.core.preprocessing import PreprocessingSpec

    return {
        "name": "tiny-test",
        "version": "0.0.1",
        "changelog": {"0.0.1": "test fixture"},
        "description": "random-weight stand-in for plumbing tests",
        "intended_use": "tests only",
        "authors": ["tests"],
        "data_source": "none",
        "references": [],
        "network_data_format": {
            "inputs": {"image": {"num_channels": 3, "spatial_shape": [size, size], "value_range": [0, 1]}},
            "outputs": {"pred": {"num_channels": len(classes)}},
        },
        "classes": classes,
        "thresholds": {c: 0.5 for c in classes},
        "preprocessing": PreprocessingSpec(size=size).to_metadata(),
        "gradcam_layer": gradcam_layer,
        "feature_layer": "pooled",
        "logits_layer": "logits",
        "calibration": {"temperature": 1.0},
    }


def make_tiny_bundle(folder: Path, classes: list[str] = CLASSES3, size: int = 64):
    import keras

    from cxr_desktop.core.bundle import write_bundle
    from trainer.backbones import build_classifier

    keras.utils.set_random_seed(0)
    model, gradcam_layer, _ = build_classifier("small_cnn", len(classes), size=size)
    return write_bundle(folder, model, tiny_metadata(classes, size, gradcam_layer))
