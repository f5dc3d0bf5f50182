"""Thresholds and the binary summary against hand-computed values."""

import numpy as np
import pytest

from helpers.evaluate.metrics import (
    binary_summary,
    decide,
    validation_thresholds,
    youden_threshold,
)


def test_youden_threshold_separates_a_separable_set():
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.35, 0.4, 0.9])
    t = youden_threshold(y, scores)
    assert 0.35 < t <= 0.4
    assert binary_summary(y, scores, t)["accuracy"] == 1.0


def test_binary_summary_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.7])
    out = binary_summary(y, s, 0.5)
    # predicted positive: 0.9, 0.8, 0.6, 0.7 -> tp 3, fp 1, fn 1, tn 3
    assert out["sensitivity"] == 0.75 and out["specificity"] == 0.75
    assert out["accuracy"] == 0.75 and out["balanced_accuracy"] == 0.75
    # AUC = share of (positive, negative) pairs ranked right: 0.3 beats only 0.2 and 0.1 -> 14/16
    assert out["auc"] == pytest.approx(14 / 16)


def test_medmnist_accuracy_follows_the_evaluator():
    """Binary: score above 0.5 (0.5 itself is negative); multi-class: arg-max; multi-label:
    mean of the per-label accuracies."""
    from helpers.evaluate.metrics import medmnist_accuracy

    y = np.array([1, 1, 1, 0])
    assert medmnist_accuracy(y, np.array([0.5, 0.51, 0.9, 0.1])) == 0.75
    assert medmnist_accuracy(y, np.array([[0.5, 0.5], [0.4, 0.6], [0.1, 0.9], [0.9, 0.1]])) == 0.75
    assert (
        medmnist_accuracy(
            np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.2, 0.5, 0.3]]), "multi-class"
        )
        == 0.5
    )
    labels = np.array([[1, 0], [0, 0]])
    assert medmnist_accuracy(labels, np.array([[0.9, 0.9], [0.1, 0.1]]), "multi-label") == 0.75
    with pytest.raises(ValueError, match="kind must be"):
        medmnist_accuracy(y, y, "regression")


def test_validation_thresholds_and_decide_follow_the_task_kind():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p = np.clip(0.3 * y + rng.random(80) * 0.7, 0, 1)
    threshold = validation_thresholds(y, p[:, None], "binary")
    assert threshold == youden_threshold(y, p)
    np.testing.assert_array_equal(decide(p[:, None], "binary", threshold), p >= threshold)
    np.testing.assert_array_equal(decide(p, "binary"), p >= 0.5)
    two = np.stack([1 - p, p], axis=1)  # a softmax pair: P(class 1) is the last column
    assert validation_thresholds(y, two, "binary") == threshold
    np.testing.assert_array_equal(decide(two, "binary", threshold), p >= threshold)
    scores = rng.random((80, 4))
    assert validation_thresholds(y, scores, "multi-class") is None
    np.testing.assert_array_equal(decide(scores, "ordinal"), scores.argmax(axis=1))
    labels = (scores + rng.normal(0, 0.2, scores.shape) > 0.5).astype(int)
    cuts = validation_thresholds(labels, scores, "multi-label")
    assert cuts == [youden_threshold(labels[:, k], scores[:, k]) for k in range(4)]
    np.testing.assert_array_equal(decide(scores, "multi-label", cuts), scores >= np.array(cuts))
    labels[:, 2] = 0  # a label without positives in validation: MedMNIST's 0.5
    assert validation_thresholds(labels, scores, "multi-label")[2] == 0.5
    with pytest.raises(ValueError, match="kind must be"):
        decide(scores, "regression")
