"""Phantoms: determinism and the consistency of their ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.phantoms import LESION_KINDS, make_phantoms, make_visit_series


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(200, 64, seed=3)


def test_shapes_and_ranges(phantoms):
    assert phantoms.images.shape == (200, 64, 64) and phantoms.images.dtype == np.float32
    assert phantoms.images.min() >= 0.0 and phantoms.images.max() <= 1.0
    assert phantoms.masks.dtype == bool and len(phantoms) == 200


def test_same_seed_same_images_other_seed_other_images(phantoms):
    again = make_phantoms(200, 64, seed=3)
    np.testing.assert_array_equal(again.images, phantoms.images)
    np.testing.assert_array_equal(again.masks, phantoms.masks)
    other = make_phantoms(200, 64, seed=4)
    assert not np.array_equal(other.images, phantoms.images)


def test_image_i_depends_only_on_seed_and_i(phantoms):
    prefix = make_phantoms(20, 64, seed=3)
    np.testing.assert_array_equal(prefix.images, phantoms.images[:20])


def test_labels_masks_boxes_and_kinds_agree(phantoms):
    for i in range(len(phantoms)):
        boxes, kinds, per_lesion = (
            phantoms.boxes[i],
            phantoms.lesion_kinds[i],
            phantoms.lesion_masks[i],
        )
        assert phantoms.labels[i] == int(len(boxes) > 0) == int(phantoms.masks[i].any())
        assert len(boxes) == len(kinds) == len(per_lesion)
        assert set(kinds) <= set(LESION_KINDS)
        for (y0, x0, y1, x1), mask in zip(boxes, per_lesion):
            inside = np.zeros_like(mask)
            inside[y0:y1, x0:x1] = True
            assert mask.any() and not (mask & ~inside).any(), "box must enclose its mask"
            assert mask[y0:y1, x0:x1].any(axis=1).all() and mask[y0:y1, x0:x1].any(axis=0).all(), (
                "box is tight"
            )
        if len(per_lesion):
            np.testing.assert_array_equal(per_lesion.any(axis=0), phantoms.masks[i])


def test_lesions_lie_inside_the_lungs(phantoms):
    assert not (phantoms.masks & ~phantoms.lung_masks).any()


def test_lesions_are_visible_in_the_image(phantoms):
    """A lesion brightens its pixels: inside-mask mean exceeds the lung mean."""
    for i in np.flatnonzero(phantoms.labels)[:30]:
        lung_only = phantoms.lung_masks[i] & ~phantoms.masks[i]
        assert (
            phantoms.images[i][phantoms.masks[i]].mean()
            > phantoms.images[i][lung_only].mean() + 0.05
        )


def test_lesion_fraction_is_respected():
    assert make_phantoms(300, 32, seed=0, lesion_fraction=0.0).labels.sum() == 0
    assert make_phantoms(50, 32, seed=0, lesion_fraction=1.0).labels.all()
    assert 0.4 < make_phantoms(300, 32, seed=0, lesion_fraction=0.5).labels.mean() < 0.6


def test_rejects_nonsense():
    with pytest.raises(ValueError, match="size >= 16"):
        make_phantoms(3, size=8)
    with pytest.raises(ValueError, match="at least 2 visits"):
        make_visit_series(3, n_visits=1)


def test_visit_series_trends_and_areas():
    series = make_visit_series(30, n_visits=5, size=64, seed=1)
    assert series.images.shape == (30, 5, 64, 64) and series.masks.shape == (30, 5, 64, 64)
    np.testing.assert_array_equal(series.areas, series.masks.sum(axis=(2, 3)))
    change = np.log(series.radii[:, -1] / series.radii[:, 0])
    assert (change[series.trend == 2] > 0.3).all()
    assert (change[series.trend == 0] < -0.3).all()
    assert (np.abs(change[series.trend == 1]) < 0.2).all()
    assert np.bincount(series.trend, minlength=3).tolist() == [10, 10, 10]
    assert np.abs(series.shifts).max() <= 2
    again = make_visit_series(30, n_visits=5, size=64, seed=1)
    np.testing.assert_array_equal(again.images, series.images)
