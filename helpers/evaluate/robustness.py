"""Robustness measurements: AUC and expected calibration error with stratified bootstrap
intervals in one pass (for curves over many corrupted test sets), paired differences of
both, and the AUROC of an out-of-distribution score. Taught in
``notebooks/10_generalization.ipynb``; the metrics are those of
:mod:`helpers.evaluate.metrics` and :mod:`helpers.evaluate.calibration`, the resampling that
of :mod:`helpers.evaluate.uncertainty`.
"""

from __future__ import annotations

import numpy as np

from helpers.evaluate.calibration import expected_calibration_error
from helpers.evaluate.metrics import auc_rows, auc_score
from helpers.evaluate.uncertainty import stratified_bootstrap_indices


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the replicates (NaNs dropped)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def ece_rows(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Binary expected calibration error of each row of (B, N) labels and probabilities
    at once, with the bins of :func:`helpers.evaluate.calibration.reliability_table` (equal
    width, P(positive) against the observed frequency): per bin |sum of labels - sum of
    probabilities|, summed and divided by N. Equal to ``expected_calibration_error`` row by
    row; a thousand replicates cost a few array operations."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if y.ndim == 1:
        y, p = y[None], p[None]
    rows, n = p.shape
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1) + n_bins * np.arange(rows)[:, None]
    gap = np.bincount(bins.ravel(), (y - p).ravel(), minlength=rows * n_bins)
    return np.abs(gap.reshape(rows, n_bins)).sum(axis=1) / n


def auc_ece_with_ci(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, float]:
    """ROC-AUC and ECE of binary ``probabilities``, each with a percentile interval over
    the same stratified bootstrap replicates: keys auc, auc_low, auc_high, ece, ece_low,
    ece_high."""
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probabilities, dtype=float)
    draws = stratified_bootstrap_indices(y, n_boot, seed)
    auc_low, auc_high = _interval(auc_rows(y[draws], p[draws]), level)
    ece_low, ece_high = _interval(ece_rows(y[draws], p[draws], n_bins), level)
    return {
        "auc": auc_score(y, p),
        "auc_low": auc_low,
        "auc_high": auc_high,
        "ece": expected_calibration_error(y, p, n_bins),
        "ece_low": ece_low,
        "ece_high": ece_high,
    }


def paired_differences(
    y_true: np.ndarray,
    probabilities_a: np.ndarray,
    probabilities_b: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, float]:
    """AUC(a) - AUC(b) and ECE(a) - ECE(b) on the same images (a and b: two models, or one
    model on clean and corrupted copies of the same images), each with a percentile interval
    over the same stratified replicates: keys auc_diff, auc_diff_low, auc_diff_high,
    ece_diff, ece_diff_low, ece_diff_high."""
    y = np.asarray(y_true).astype(int).ravel()
    a, b = np.asarray(probabilities_a, float), np.asarray(probabilities_b, float)
    draws = stratified_bootstrap_indices(y, n_boot, seed)
    auc_d = auc_rows(y[draws], a[draws]) - auc_rows(y[draws], b[draws])
    ece_d = ece_rows(y[draws], a[draws], n_bins) - ece_rows(y[draws], b[draws], n_bins)
    out = {
        "auc_diff": auc_score(y, a) - auc_score(y, b),
        "ece_diff": expected_calibration_error(y, a, n_bins)
        - expected_calibration_error(y, b, n_bins),
    }
    out["auc_diff_low"], out["auc_diff_high"] = _interval(auc_d, level)
    out["ece_diff_low"], out["ece_diff_high"] = _interval(ece_d, level)
    return out


def ood_auroc(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(AUROC, low, high) of an out-of-distribution score (larger: less like the training
    data) separating ``scores_out`` (label 1) from ``scores_in`` (label 0), with a stratified
    bootstrap interval. 0.5: no better than chance; 1: every outside image scores higher."""
    s = np.concatenate([np.asarray(scores_in, float), np.asarray(scores_out, float)])
    y = np.r_[np.zeros(len(scores_in), int), np.ones(len(scores_out), int)]
    draws = stratified_bootstrap_indices(y, n_boot, seed)
    low, high = _interval(auc_rows(y[draws], s[draws]), level)
    return auc_score(y, s), low, high


def predictive_uncertainty(outputs: np.ndarray) -> np.ndarray:
    """One minus the confidence of the model's call, per image: ``1 - max(p, 1 - p)`` for a
    binary model's one output (shape (N,) or (N, 1)), ``1 - the largest class probability``
    for softmax outputs (N, K). The baseline out-of-distribution score of
    ``notebooks/10_generalization.ipynb`` (larger: less sure), beside the feature distance."""
    p = np.asarray(outputs, dtype=float)
    if p.ndim == 2 and p.shape[1] == 1:  # one sigmoid unit kept as a column
        p = p[:, 0]
    if p.ndim == 1:
        return 1.0 - np.maximum(p, 1.0 - p)
    if p.ndim == 2:
        return 1.0 - p.max(axis=1)
    raise ValueError(f"expected (N,) or (N, K) model outputs, got shape {p.shape}")
