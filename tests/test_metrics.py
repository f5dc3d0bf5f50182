"""Thresholds and the binary summary against hand-computed values."""

import numpy as np
import pytest

from helpers.evaluate.metrics import binary_summary, youden_threshold


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
