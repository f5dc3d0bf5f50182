"""Explanations (05_explainability): on a model that only sees one image quadrant, each
method puts its mass there; seeds make them deterministic; explaining never changes the
model; the scoring functions (sanity checks, deletion/insertion, localisation) behave."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers

from helpers.explain import maps as ex
from helpers.explain import scoring as ee

SIDE = 32
LAPLACIAN = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32).reshape(3, 3, 1, 1)


class QuadrantOnly(layers.Layer):
    """Zero everything outside the top-left quadrant (a layer, not a Lambda, so that
    clone_model can rebuild it)."""

    def call(self, x):
        keep = np.zeros((1, SIDE, SIDE, 1), np.float32)
        keep[:, : SIDE // 2, : SIDE // 2] = 1.0
        return x * keep


def _quadrant_model(sequential: bool = False) -> keras.Model:
    """Output = sigmoid(mean brightness of the top-left quadrant, through two conv layers):
    nothing outside that quadrant can change it."""
    stack = [
        QuadrantOnly(name="quadrant_only"),
        # A Laplacian: responds to texture, which LIME's "segment off" (its mean) removes.
        layers.Conv2D(
            1,
            3,
            padding="same",
            use_bias=False,
            activation="relu",
            name="conv1",
            kernel_initializer=keras.initializers.Constant(LAPLACIAN),
        ),
        layers.Conv2D(
            4,
            3,
            padding="same",
            use_bias=False,
            activation="relu",
            kernel_initializer=keras.initializers.Constant(0.05),
            name="conv2",
        ),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(
            1,
            activation="sigmoid",
            kernel_initializer="ones",
            bias_initializer=keras.initializers.Constant(-0.5),
            name="output",
        ),
    ]
    if sequential:
        return keras.Sequential([keras.Input((SIDE, SIDE, 1)), *stack])
    inputs = keras.Input((SIDE, SIDE, 1))
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 1.0, size=(SIDE, SIDE)).astype(np.float32)


def _quadrant_share(heat: np.ndarray) -> float:
    mass = np.clip(heat, 0, None)
    return float(mass[: SIDE // 2, : SIDE // 2].sum() / mass.sum())


@pytest.fixture(scope="module")
def quadrant_model():
    return _quadrant_model()


def test_every_method_puts_its_mass_in_the_quadrant_that_matters(quadrant_model):
    image = _image()
    background = np.stack([_image(s) for s in range(1, 9)])
    maps = {
        "grad_cam": ex.grad_cam(quadrant_model, image, 1),
        "integrated_gradients": ex.integrated_gradients(quadrant_model, image, 1),
        "lime": ex.lime_map(
            quadrant_model, image, 1, num_samples=300, n_segments=16, compactness=1.0, seed=0
        ),
        "shap": ex.shap_map(quadrant_model, image, background, 1, nsamples=16, seed=0),
    }
    for name, heat in maps.items():
        assert heat.shape == (SIDE, SIDE), name
        assert _quadrant_share(heat) > 0.8, (name, _quadrant_share(heat))
    assert ex.spatial_layer(quadrant_model).name == "conv2"


def test_explanations_are_deterministic_with_seeds(quadrant_model):
    image = _image(3)
    background = np.stack([_image(s) for s in range(10, 14)])
    assert np.array_equal(
        ex.lime_map(quadrant_model, image, 1, num_samples=100, seed=5),
        ex.lime_map(quadrant_model, image, 1, num_samples=100, seed=5),
    )
    assert np.array_equal(
        ex.shap_map(quadrant_model, image, background, 1, nsamples=8, seed=5),
        ex.shap_map(quadrant_model, image, background, 1, nsamples=8, seed=5),
    )
    assert np.array_equal(
        ex.grad_cam(quadrant_model, image, 1), ex.grad_cam(quadrant_model, image, 1)
    )


def test_explaining_does_not_change_the_model(quadrant_model):
    image = _image(4)
    before = [w.copy() for w in quadrant_model.get_weights()]
    prediction = quadrant_model.predict(image[None, ..., None], verbose=0)
    ex.grad_cam(quadrant_model, image)
    ex.integrated_gradients(quadrant_model, image, steps=8)
    ex.lime_map(quadrant_model, image, num_samples=50)
    ex.shap_map(quadrant_model, image, image[None], nsamples=4)
    assert all(np.array_equal(a, b) for a, b in zip(before, quadrant_model.get_weights()))
    assert quadrant_model.layers[-1].activation.__name__ == "sigmoid"
    assert np.array_equal(prediction, quadrant_model.predict(image[None, ..., None], verbose=0))


def test_sequential_models_class_zero_and_errors():
    model = _quadrant_model(sequential=True)
    image = _image(5)
    assert _quadrant_share(ex.grad_cam(model, image, 1)) > 0.8
    # Class 0 of a one-output model is the negated logit: its gradient map flips sign.
    ig1 = ex.integrated_gradients(model, image, 1, steps=8)
    ig0 = ex.integrated_gradients(model, image, 0, steps=8)
    assert np.allclose(ig0, -ig1, atol=1e-6)
    # Integrated gradients are complete: they sum to logit(image) - logit(baseline).
    logit = lambda x: float(
        model.layers[-1].kernel.numpy().sum() * 0
        + np.log(  # noqa: E731
            (p := model.predict(x[None, ..., None], verbose=0)[0, 0]) / (1 - p)
        )
    )
    assert ig1.sum() == pytest.approx(logit(image) - logit(np.zeros_like(image)), rel=0.02)
    dense_only = keras.Sequential(
        [keras.Input((SIDE, SIDE, 1)), layers.Flatten(), layers.Dense(1, activation="sigmoid")]
    )
    with pytest.raises(ValueError, match="spatial"):
        ex.grad_cam(dense_only, image)
    with pytest.raises(ValueError, match="classes 0 and 1"):
        ex.grad_cam(model, image, 2)
    with pytest.raises(ValueError, match="channels"):
        ex.grad_cam(model, np.zeros((SIDE, SIDE, 3), np.float32))


def test_rank_correlation_and_cascading_randomization(quadrant_model):
    a = np.arange(16.0).reshape(4, 4)
    assert ee.rank_correlation(a, a) == pytest.approx(1.0)
    assert ee.rank_correlation(a, -a, absolute=False) == pytest.approx(-1.0)
    assert np.isnan(ee.rank_correlation(a, np.zeros_like(a)))
    flat = np.zeros_like(a)
    assert ee.mean_rank_correlation([a, a], [a, flat]) == pytest.approx(1.0)  # constant left out
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" when every map is constant
        assert np.isnan(ee.mean_rank_correlation([a, a], [flat, flat]))
    from helpers.models.cnn import compact_cnn

    keras.utils.set_random_seed(1)
    model = compact_cnn((16, 16, 1), 1, width=2)
    model.set_weights([w + 0.5 for w in model.get_weights()])  # stands in for training
    original = [w.copy() for w in model.get_weights()]
    cascade = ee.cascading_randomization(model, seed=0)
    assert [name for name, _ in cascade] == [
        "output",
        "stage3b_conv",
        "stage3a_conv",
        "stage2b_conv",
        "stage2a_conv",
        "stage1b_conv",
        "stage1a_conv",
    ]
    first, last = cascade[0][1], cascade[-1][1]

    def same(copy, layer):
        return all(
            np.array_equal(a, b)
            for a, b in zip(
                copy.get_layer(layer).get_weights(), model.get_layer(layer).get_weights()
            )
        )

    assert same(first, "stage1a_conv") and same(first, "stage3b_bn") and not same(first, "output")
    assert not same(cascade[1][1], "stage3b_bn")  # batch norm goes with its convolution
    assert not any(same(last, layer.name) for layer in model.layers if layer.weights)
    assert all(np.array_equal(a, b) for a, b in zip(original, model.get_weights()))
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
    assert not np.allclose(last.predict(x, verbose=0), model.predict(x, verbose=0))


def test_deletion_and_insertion_reward_the_right_map(quadrant_model):
    image = np.zeros((SIDE, SIDE), np.float32)
    rng = np.random.default_rng(0)
    for r, c in rng.integers(1, SIDE // 2 - 1, size=(12, 2)):
        image[r, c] = 1.0  # isolated bright dots in the quadrant that matters
    for r, c in rng.integers(SIDE // 2 + 1, SIDE - 1, size=(12, 2)):
        image[r, c] = 1.0  # and outside it
    right = image * 0
    right[: SIDE // 2, : SIDE // 2] = image[: SIDE // 2, : SIDE // 2] + 0.1
    wrong = image - right
    good = ee.deletion_insertion(quadrant_model, image, right, 1, steps=8)
    bad = ee.deletion_insertion(quadrant_model, image, wrong, 1, steps=8)
    assert good["deletion_auc"] < bad["deletion_auc"]
    assert good["insertion_auc"] > bad["insertion_auc"]
    assert good["deletion"][0] == pytest.approx(
        good["insertion"][-1], abs=1e-6
    )  # both are the intact image


def test_reference_size_is_the_filters_default():
    assert ee.reference_size(64) == 9 and ee.reference_size(28) == 5 and ee.reference_size(8) == 3
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(64, 64)).astype(np.float32)
    assert np.array_equal(
        ee.lesion_free_reference(image), ee.lesion_free_reference(image, ee.reference_size(64))
    )


def test_localisation_scores():
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    on, near, far = (np.zeros((64, 64)) for _ in range(3))
    on[31, 31] = 1
    near[36, 31] = 1  # 2 px outside the mask: within the scaled tolerance of 4 px
    far[5, 5] = 1
    assert ee.pointing_tolerance(224) == 15 and ee.pointing_tolerance(64) == 4
    assert (
        ee.pointing_hit(on, mask) and ee.pointing_hit(near, mask) and not ee.pointing_hit(far, mask)
    )
    assert not ee.pointing_hit(near, mask, tolerance=0)
    assert ee.energy_inside(on, mask) == 1.0 and ee.energy_inside(far, mask) == 0.0
    assert np.isnan(ee.energy_inside(-on, mask))
    assert ee.centroid_distance(on, mask) == 0.0
    assert ee.centroid_distance(far, mask) == pytest.approx(np.hypot(25, 25), abs=0.5)
    two = mask.copy()
    two[50:54, 50:54] = True  # a second, separate lesion
    both = np.zeros((64, 64))
    both[31, 31] = both[51, 51] = 1  # a map that marks both: its centroid lies between them
    assert ee.lesion_regions(two) == 2 and ee.lesion_regions(mask) == 1
    assert np.isnan(ee.centroid_distance(both, two))  # undefined with two lesions
    touching = mask.copy()
    touching[34:37, 30:34] = True  # touches the first: one region, still scored
    assert ee.lesion_regions(touching) == 1 and ee.centroid_distance(on, touching) == 0.0
    segment = np.zeros((64, 64))
    segment[28:36, 28:36] = 1  # a tied plateau (a LIME segment): its centroid is the point
    assert ee.pointing_hit(segment, mask, tolerance=0)
    noise = ex.random_map((64, 64), seed=1)
    assert ee.energy_inside(noise, mask) == pytest.approx(mask.mean(), abs=0.01)


def test_phantom_classifier_trains_and_caches(tmp_path, monkeypatch):
    from helpers.explain.phantom_classifier import load_or_train_phantom_classifier

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    params = {"n_train": 64, "n_val": 32, "n_test": 16, "size": 32, "width": 4, "epochs": 1}
    model, meta, cached = load_or_train_phantom_classifier(params, verbose=False)
    assert not cached and model.output_shape == (None, 1) and 0 <= meta["val_auc"] <= 1
    again, _, cached = load_or_train_phantom_classifier(params, verbose=False)
    assert cached
    shuffled, meta_s, _ = load_or_train_phantom_classifier(
        {**params, "shuffle_labels": True}, verbose=False
    )
    assert meta_s["params"]["shuffle_labels"] is True
