"""Preprocessing and the tf.data pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.preprocess import augmentation, make_dataset, resize, standardize, to_float


def test_to_float_adds_channel_and_scales():
    x = np.array([[[0, 255]]], dtype=np.uint8)
    out = to_float(x)
    assert out.shape == (1, 1, 2, 1) and out.dtype == np.float32
    assert out.max() == 1.0 and out.min() == 0.0
    with pytest.raises(ValueError, match="expected uint8 or float"):
        to_float(np.zeros((1, 2, 2), np.int32))
    with pytest.raises(ValueError, match=r"got shape \(2, 2\)"):
        to_float(np.zeros((2, 2), np.uint8))


def test_standardize_uses_training_statistics():
    train = np.array([0.0, 2.0, 4.0])
    z, mean, std = standardize(train)
    assert abs(z.mean()) < 1e-7 and abs(z.std() - 1) < 1e-6
    test_z, _, _ = standardize(np.array([2.0]), mean, std)
    assert test_z.tolist() == [0.0]
    with pytest.raises(ValueError, match="standard deviation is zero"):
        standardize(np.ones(4))


def test_resize_batch():
    out = resize(np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8), 64)
    assert out.shape == (3, 64, 64, 1)
    assert 0.0 <= out.min() and out.max() <= 1.0 + 1e-6


def test_dataset_batches_labels_and_repeats_exactly():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    y = np.arange(50)

    def first_epoch_labels(seed):
        ds = make_dataset(x, y, batch_size=16, shuffle=True, seed=seed)
        return np.concatenate([b.numpy() for _, b in ds])

    a, b = first_epoch_labels(1), first_epoch_labels(1)
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == list(range(50)) and a.tolist() != list(range(50))
    batch_x, _ = next(iter(make_dataset(x, y, batch_size=16)))
    assert batch_x.shape == (16, 28, 28, 1)
    with pytest.raises(ValueError, match="50 images but 3 labels"):
        make_dataset(x, y[:3])


def test_augmentation_changes_images_only_in_training():
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    aug = augmentation(seed=0)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x)
    assert not np.allclose(np.asarray(aug(x, training=True)), x)
    names = [layer.__class__.__name__ for layer in aug.layers]
    assert "RandomFlip" not in names  # no flips for chest X-rays by default
    assert "RandomFlip" in [layer.__class__.__name__ for layer in augmentation(flip=True).layers]


def test_augmented_images_stay_in_the_unit_interval():
    """Contrast is clipped to the images' [0, 1] range, not Keras' default [0, 255]."""
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    aug = augmentation(seed=0, strength=5.0)  # contrast factor up to 0.75: strong stretches
    for _ in range(3):
        out = np.asarray(aug(x, training=True))
        assert out.min() >= 0.0 and out.max() <= 1.0, (out.min(), out.max())
    contrast = aug.layers[-1]
    assert tuple(contrast.value_range) == (0.0, 1.0)


def test_contrast_is_lowered_as_well_as_raised():
    """``contrast=0.15`` draws factors in [0.85, 1.15], not only in [1, 1.15]."""
    contrast = augmentation(seed=0).layers[-1]
    draws = np.asarray(
        contrast.get_random_transformation(np.zeros((2000, 4, 4, 1), np.float32))["contrast_factor"]
    )
    assert 0.85 <= draws.min() < 0.9 and 1.1 < draws.max() <= 1.15


def test_augmentation_strength_scales_every_magnitude():
    weak = augmentation(strength=0.5).layers
    assert weak[0].factor == (-0.02, 0.02) or tuple(weak[0].factor) == (-0.02, 0.02)
    assert weak[1].height_factor in (0.04, (-0.04, 0.04))


@pytest.mark.parametrize(
    "shape, size",
    [((1120, 1120, 1), 28), ((28, 28, 1), 64), ((300, 200, 3), 28), ((33, 57, 1), 28)],
)
def test_model_input_array_equals_model_input(shape, size):
    """The NumPy twin (TFLite predict, no TensorFlow) resizes and converts as TF does."""
    from helpers.data.preprocess import model_input, model_input_array

    x = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    for channels in (1, 3):
        expected = model_input(x, size, channels).numpy()
        got = model_input_array(x, size, channels)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert np.abs(got - expected).max() < 1e-5


def test_model_input_array_rejects_what_model_input_rejects():
    from helpers.data.preprocess import model_input_array

    with pytest.raises(ValueError, match="batch"):
        model_input_array(np.zeros((28, 28, 1)), 28)
    with pytest.raises(ValueError, match="cannot convert 2 channels"):
        model_input_array(np.zeros((1, 28, 28, 2)), 28, 3)
