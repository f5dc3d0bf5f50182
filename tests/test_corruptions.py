"""Unit tests of helpers.data.corruptions (taught in notebooks/10_generalization.ipynb)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import corruptions


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    base = (np.sin(xx / 3.0) * np.cos(yy / 4.0) + 1) / 2
    return np.stack([np.clip(base + 0.1 * rng.random((28, 28)), 0, 1) for _ in range(6)])


@pytest.mark.parametrize("kind", corruptions.KINDS)
def test_severity_zero_is_the_identity(kind, images):
    as_uint8 = np.round(images * 255).astype(np.uint8)
    for x in (images.astype(np.float32), as_uint8, as_uint8[..., None]):
        out = corruptions.corrupt(x, kind, 0)
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("kind", corruptions.KINDS)
def test_every_severity_changes_the_images_within_range(kind, images):
    x = images.astype(np.float32)
    for severity in range(1, corruptions.max_severity(kind) + 1):
        out = corruptions.corrupt(x, kind, severity, seed=1)
        assert out.shape == x.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        assert np.abs(out - x).mean() > 1e-3, f"{kind} {severity} changed nothing"
        np.testing.assert_array_equal(out, corruptions.corrupt(x, kind, severity, seed=1))


@pytest.mark.parametrize("kind", ["gaussian_noise", "blur", "contrast", "low_resolution"])
def test_higher_severity_moves_the_images_further(kind, images):
    change = [
        np.abs(corruptions.corrupt(images, kind, s) - images).mean()
        for s in range(corruptions.max_severity(kind) + 1)
    ]
    assert change == sorted(change)


def test_invert_and_bad_arguments(images):
    np.testing.assert_allclose(corruptions.corrupt(images, "invert", 1), 1 - images)
    with pytest.raises(ValueError, match="kind"):
        corruptions.corrupt(images, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corruptions.corrupt(images, "invert", 2)
    with pytest.raises(ValueError, match="colour"):
        corruptions.corrupt(np.zeros((2, 28, 28, 2)), "blur", 1)


@pytest.mark.parametrize("kind", corruptions.KINDS)
def test_colour_images_get_each_channel_corrupted_as_a_gray_image(kind, images):
    """RGB (N, H, W, 3) keeps its shape and dtype; a deterministic corruption treats each
    channel as the same gray corruption would (noise is drawn for all channels at once and
    JPEG codes colour jointly, so those two are only checked for range and change)."""
    rgb = np.round(np.stack([images, images[:, ::-1], 1 - images], axis=-1) * 255).astype(np.uint8)
    for severity in range(1, corruptions.max_severity(kind) + 1):
        out = corruptions.corrupt(rgb, kind, severity, seed=2)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        assert np.abs(out.astype(float) - rgb).mean() > 0.1, f"{kind} {severity} changed nothing"
        if kind not in ("gaussian_noise", "jpeg"):
            for channel in range(3):
                gray = corruptions.corrupt(rgb[..., channel], kind, severity, seed=2)
                np.testing.assert_array_equal(out[..., channel], gray)


def test_random_corruptions_draw_a_kind_per_image(images):
    copies, drawn = corruptions.random_corruptions(images, seed=3)
    assert copies.shape == images.shape and len(drawn) == len(images)
    for (kind, severity), copy, original in zip(drawn, copies, images):
        assert 1 <= severity <= corruptions.max_severity(kind)
        assert not np.array_equal(copy, original)
    again, drawn_again = corruptions.random_corruptions(images, seed=3)
    np.testing.assert_array_equal(again, copies)
    assert drawn_again == drawn


def test_random_corruptions_never_invert_by_default(images):
    assert "invert" not in corruptions.TRAINING_KINDS
    _, drawn = corruptions.random_corruptions(np.repeat(images, 20, axis=0), seed=0)
    assert {kind for kind, _ in drawn} == set(corruptions.TRAINING_KINDS)


def test_corrupt_sets_stacks_each_set_in_order(images):
    sets = [("none", 0), ("blur", 2), ("invert", 1)]
    stacked = corruptions.corrupt_sets(images, sets, seed=4)
    assert stacked.shape == (3 * len(images), *images.shape[1:])
    np.testing.assert_array_equal(stacked[: len(images)], images)
    np.testing.assert_array_equal(
        stacked[len(images) : 2 * len(images)], corruptions.corrupt(images, "blur", 2, seed=4)
    )
    np.testing.assert_allclose(stacked[2 * len(images) :], 1 - images)
