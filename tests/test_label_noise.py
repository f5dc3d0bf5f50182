"""Unit tests of helpers.data.label_noise, helpers.evaluate.robustness and the OOD score of
helpers.deploy.ood as notebooks/10_generalization.ipynb uses them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers.data import label_noise
from helpers.deploy.ood import FeatureDistance
from helpers.evaluate import robustness
from helpers.evaluate.calibration import expected_calibration_error
from helpers.evaluate.metrics import auc_score


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.2, 0.4, 1.0])
def test_flipping_k_percent_flips_exactly_k_percent(rate):
    labels = np.r_[np.zeros(300, int), np.ones(700, int)]
    noisy, flipped = label_noise.flip_labels(labels, rate, seed=1)
    assert flipped.sum() == round(rate * len(labels))
    assert (noisy != labels).sum() == flipped.sum()
    np.testing.assert_array_equal(noisy[flipped], 1 - labels[flipped])
    again, _ = label_noise.flip_labels(labels, rate, seed=1)
    np.testing.assert_array_equal(noisy, again)


def test_multiclass_flips_change_the_class_and_bad_input_fails():
    labels = np.arange(200) % 5
    noisy, flipped = label_noise.flip_labels(labels, 0.3, seed=0, n_classes=5)
    assert flipped.sum() == 60 and np.all(noisy[flipped] != labels[flipped])
    assert set(np.unique(noisy)) <= set(range(5))
    with pytest.raises(ValueError):
        label_noise.flip_labels(labels, 1.5)
    with pytest.raises(ValueError):
        label_noise.flip_labels(np.zeros((4, 2), int), 0.1)


def _separable(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(0.3, 0.05, (n, 8, 8))
    images[labels == 1, :4] += 0.4  # class 1: a bright upper half
    return np.clip(images, 0, 1), labels


def test_out_of_fold_confidence_finds_flipped_labels():
    images, labels = _separable()
    noisy, flipped = label_noise.flip_labels(labels, 0.1, seed=2)
    confidence = label_noise.out_of_fold_confidence(images, noisy, folds=4, seed=0, components=5)
    suspects = label_noise.suspect_labels(confidence)
    assert np.isin(np.flatnonzero(flipped), suspects).mean() > 0.9
    assert flipped[suspects].mean() > 0.9


def test_noisy_copies_get_their_own_fingerprint():
    from helpers.data.medmnist import MedMNIST, medmnist_info

    images, labels = _separable(40)
    data = MedMNIST(
        info=medmnist_info("pneumoniamnist"),
        path=None,
        checksum_ok=True,
        md5="abc",
        images={"train": images, "val": images[:4], "test": images[:4]},
        labels={"train": labels, "val": labels[:4], "test": labels[:4]},
    )
    noisy, _ = label_noise.flip_labels(labels, 0.2, seed=0)
    flipped = label_noise.with_train_labels(data, noisy, tag="flip")
    assert flipped.fingerprint != data.fingerprint and flipped.fingerprint.startswith("abc+flip")
    np.testing.assert_array_equal(flipped.labels["train"], noisy)
    np.testing.assert_array_equal(data.labels["train"], labels)  # the original is untouched
    fewer = label_noise.without_train_images(data, [0, 1, 2])
    assert len(fewer.labels["train"]) == len(fewer.images["train"]) == 37
    assert fewer.fingerprint not in (data.fingerprint, flipped.fingerprint)
    assert dataclasses.replace(data).fingerprint == data.fingerprint


def test_matched_augmentation_keys_its_kinds_and_never_inverts():
    from helpers.data.medmnist import MedMNIST, medmnist_info
    from helpers.train.perturbed import perturbed_data

    _, labels = _separable(40)
    images = np.full((len(labels), 28, 28), 60, np.uint8)
    data = MedMNIST(
        info=medmnist_info("pneumoniamnist"),
        path=None,
        checksum_ok=True,
        md5="abc",
        images={"train": images, "val": images[:4], "test": images[:4]},
        labels={"train": labels, "val": labels[:4], "test": labels[:4]},
    )
    default = perturbed_data(data, {"corrupted_copies": True, "seed": 0})
    assert "invert" not in default.fingerprint and "blur" in default.fingerprint
    assert default.fingerprint != "abc+corrupted-copies-0"  # the model trained with inversion
    copies = default.images["train"][len(images) :]
    assert (copies.mean(axis=(1, 2)) < 128).all()  # an inverted grey-60 copy would be 195
    only_invert = perturbed_data(
        data, {"corrupted_copies": True, "seed": 0, "corruption_kinds": ["invert"]}
    )
    assert only_invert.fingerprint != default.fingerprint
    assert (only_invert.images["train"][len(images) :] == 195).all()


def test_ece_rows_equal_the_calibration_helper():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (5, 300))
    p = np.clip(0.6 * y + 0.4 * rng.random((5, 300)), 0, 1)
    p[0, :3] = [0.0, 1.0, 0.1]  # bin edges
    expected = [expected_calibration_error(a, b, 10) for a, b in zip(y, p)]
    np.testing.assert_allclose(robustness.ece_rows(y, p, 10), expected, atol=1e-12)
    result = robustness.auc_ece_with_ci(y[0], p[0], n_boot=200, seed=0)
    assert result["auc_low"] <= result["auc"] <= result["auc_high"]
    assert result["ece_low"] <= result["ece"] <= result["ece_high"]
    assert result["auc"] == pytest.approx(auc_score(y[0], p[0]))
    same = robustness.paired_differences(y[0], p[0], p[0], n_boot=100)
    assert same["auc_diff"] == same["auc_diff_low"] == same["auc_diff_high"] == 0


def test_an_ood_score_separates_a_trivially_different_set():
    rng = np.random.default_rng(0)
    reference, calibration = rng.normal(size=(500, 6)), rng.normal(size=(200, 6))
    inside, outside = rng.normal(size=(200, 6)), rng.normal(4.0, 1.0, size=(200, 6))
    check = FeatureDistance.fit(reference, calibration, quantile=0.99)
    auroc, low, high = robustness.ood_auroc(check.score(inside), check.score(outside), n_boot=200)
    assert auroc > 0.99 and low > 0.95 and high <= 1
    assert check.flags(outside).mean() > 0.95
    assert check.flags(inside).mean() < 0.05
    same = robustness.ood_auroc(check.score(inside[:100]), check.score(inside[100:]), n_boot=200)
    assert same[1] < 0.5 < same[2]


def test_perturbed_runs_score_every_corrupted_test_set(generated_binary):
    """train_runs returns, per run, the model's scores on each corrupted copy of the test
    split (set by set), equal to scoring that copy directly."""
    from helpers.data.corruptions import corrupt_sets
    from helpers.data.medmnist import load_medmnist
    from helpers.train.cache import load_or_train
    from helpers.train.config import TrainConfig
    from helpers.train.engine import predict_scores
    from helpers.train.perturbed import perturbed_data, train_runs

    config = TrainConfig(
        model="compact_cnn",
        dataset=generated_binary,
        epochs=1,
        batch_size=32,
        augment=0.0,
        model_options={"width": 4},
        patience=None,
    )
    sets = [("none", 0), ("blur", 2), ("invert", 1)]
    runs = [
        {"name": "flipped", "config": dataclasses.asdict(config), "perturbation": {"flip": 0.2}}
    ]
    (row,) = train_runs(runs, score_sets=sets, seed=0)
    assert row["scores"].shape == (len(sets), 20) and row["n_train"] == 64
    data = load_medmnist(generated_binary)
    model = load_or_train(config, data=perturbed_data(data, {"flip": 0.2}), verbose=False)
    assert model.from_cache
    stacked = corrupt_sets(data.images["test"], sets, seed=0)
    expected = predict_scores(model.model, stacked, config).reshape(len(sets), 20)
    np.testing.assert_allclose(row["scores"], expected, rtol=1e-5, atol=1e-6)


def test_predictive_uncertainty_of_binary_and_softmax_outputs():
    """1 - max(p, 1 - p) for one sigmoid output, 1 - the top class probability for softmax."""
    np.testing.assert_allclose(
        robustness.predictive_uncertainty(np.array([0.9, 0.5, 0.2])), [0.1, 0.5, 0.2]
    )
    np.testing.assert_allclose(
        robustness.predictive_uncertainty(np.array([[0.9], [0.2]])), [0.1, 0.2]
    )
    softmax = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(robustness.predictive_uncertainty(softmax), [0.3, 0.6])
    with pytest.raises(ValueError, match="model outputs"):
        robustness.predictive_uncertainty(np.zeros((2, 2, 2)))
