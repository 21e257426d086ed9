"""The one preprocessing function: its output is pinned, because every bundle depends on it."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_desktop.core.preprocessing import PREPROCESSING_ID, PreprocessingSpec, preprocess
from cxr_desktop.core.radiograph import load_radiograph


def synthetic_image() -> np.ndarray:
    """40 x 56: two ramps, a checkerboard of 7 x 5 cells and a bright block (a fixed, known input)."""
    y, x = np.mgrid[0:40, 0:56].astype(np.float32)
    checker = ((x.astype(int) // 7 + y.astype(int) // 5) % 2).astype(np.float32)
    image = (x / 55) * 0.6 + (y / 39) * 0.3 + 0.1 * checker
    image[18:22, 25:31] = 1.0
    return image.astype(np.float32)


# preprocess(synthetic_image(), size=8) under "cxr-square-pstretch-v1". A change here changes what
# every bundle sees: bump PREPROCESSING_ID and retrain instead of editing these numbers.
GOLDEN_8 = np.array(
    [
        [0.0000, 0.1835, 0.1550, 0.3677, 0.3392, 0.5519, 0.5234, 0.7361],
        [0.1378, 0.1093, 0.3220, 0.2935, 0.5062, 0.4777, 0.6904, 0.6619],
        [0.0636, 0.2763, 0.2477, 0.4605, 0.4319, 0.6447, 0.6161, 0.8289],
        [0.2305, 0.2020, 0.4147, 0.5049, 0.6902, 0.5704, 0.7831, 0.7546],
        [0.1563, 0.3690, 0.3405, 0.6481, 0.6335, 0.7374, 0.7089, 0.9216],
        [0.3233, 0.2948, 0.5075, 0.4790, 0.6917, 0.6632, 0.8759, 0.8474],
        [0.2491, 0.4618, 0.4333, 0.6460, 0.6175, 0.8302, 0.8017, 1.0000],
        [0.4161, 0.3876, 0.6003, 0.5718, 0.7845, 0.7560, 0.9687, 0.9402],
    ],
    dtype=np.float32,
)


def test_golden_output_is_pinned():
    assert PreprocessingSpec().id == PREPROCESSING_ID == "cxr-square-pstretch-v1"
    out = preprocess(synthetic_image(), PreprocessingSpec(size=8, channels=1))
    assert out.shape == (8, 8, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], GOLDEN_8, atol=1e-4)


def test_three_channels_repeat_the_grey_channel():
    out = preprocess(synthetic_image(), PreprocessingSpec(size=8, channels=3))
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    np.testing.assert_allclose(out[..., 0], GOLDEN_8, atol=1e-4)


@pytest.mark.parametrize("size", [64, 224])
def test_real_radiograph_becomes_a_square_tensor_in_unit_range(size, sample_images):
    for path in sample_images:
        out = preprocess(load_radiograph(path).pixels, PreprocessingSpec(size=size))
        assert out.shape == (size, size, 3) and out.dtype == np.float32
        assert float(out.min()) == 0.0 and float(out.max()) == 1.0
        assert np.isfinite(out).all()


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (40, 40), (1000, 37)], ids=str)
def test_any_shape_is_squashed_to_the_model_size(shape):
    rng = np.random.default_rng(0)
    out = preprocess(rng.random(shape, dtype=np.float32), PreprocessingSpec(size=64))
    assert out.shape == (64, 64, 3)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_flat_image_gives_no_nan(value):
    out = preprocess(np.full((100, 80), value, np.float32), PreprocessingSpec(size=32))
    assert np.isfinite(out).all()
    assert out.shape == (32, 32, 3)


def test_input_is_not_modified():
    image = synthetic_image()
    before = image.copy()
    preprocess(image, PreprocessingSpec(size=8))
    np.testing.assert_array_equal(image, before)


def test_spec_round_trips_through_metadata():
    spec = PreprocessingSpec(size=128, channels=1, low_percentile=1.0, high_percentile=99.0)
    assert PreprocessingSpec.from_metadata(spec.to_metadata()) == spec
    with pytest.raises(ValueError, match="unknown preprocessing"):
        PreprocessingSpec.from_metadata({**spec.to_metadata(), "id": "something-else"})
