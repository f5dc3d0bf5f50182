"""Does a predicted 0.9 mean 90 %? Reliability diagrams, expected calibration error, the
Brier score, temperature scaling and Platt scaling fitted on the validation split, and a
paired bootstrap interval for the change of the ECE that a recalibration brings.

Taught in ``notebooks/04_evaluation.ipynb``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss

from helpers.evaluate.uncertainty import stratified_bootstrap_indices

_EPS = 1e-7


def _confidence_and_hit(
    y_true: np.ndarray, probabilities: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Binary: (P(positive), y). Multi-class: (top-class probability, top class correct)."""
    y_true = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probabilities, dtype=float)
    if p.ndim == 1:
        return p, y_true.astype(float)
    return p.max(axis=1), (p.argmax(axis=1) == y_true).astype(float)


def reliability_table(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 10
) -> pd.DataFrame:
    """Equal-width bins of predicted probability: per bin the number of images, the mean
    predicted probability and the observed frequency (binary: of the positive class;
    multi-class: of the top class being right). Empty bins are left out."""
    confidence, hit = _confidence_and_hit(y_true, probabilities)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            rows.append(
                {
                    "bin_low": b / n_bins,
                    "bin_high": (b + 1) / n_bins,
                    "count": int(inside.sum()),
                    "mean_predicted": float(confidence[inside].mean()),
                    "observed": float(hit[inside].mean()),
                }
            )
    return pd.DataFrame(rows)


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 10
) -> float:
    """ECE: the count-weighted mean |observed - predicted| over the bins of
    :func:`reliability_table` (0 = perfectly calibrated)."""
    table = reliability_table(y_true, probabilities, n_bins)
    return float(
        (table["count"] * (table["observed"] - table["mean_predicted"]).abs()).sum()
        / table["count"].sum()
    )


def brier_score(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared error of the predicted probabilities (scikit-learn's
    ``brier_score_loss`` for binary; summed over classes for multi-class)."""
    y_true = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probabilities, dtype=float)
    if p.ndim == 1:
        return float(brier_score_loss(y_true, p))
    onehot = np.eye(p.shape[1])[y_true]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Divide the logits by ``temperature`` (> 1 softens over-confident scores, < 1
    sharpens) and map back to probabilities (scipy's logit/expit, log/softmax). Ranking,
    hence AUC, is unchanged."""
    p = np.clip(np.asarray(probabilities, dtype=float), _EPS, 1 - _EPS)
    if p.ndim == 1:
        return expit(logit(p) / temperature)
    return softmax(np.log(p) / temperature, axis=1)


def negative_log_likelihood(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean cross-entropy of the true labels under the predicted probabilities
    (scikit-learn's ``log_loss``)."""
    y_true = np.asarray(y_true).astype(int).ravel()
    p = np.clip(np.asarray(probabilities, dtype=float), _EPS, 1 - _EPS)
    if p.ndim == 1:
        return float(log_loss(y_true, p, labels=[0, 1]))
    return float(log_loss(y_true, p / p.sum(axis=1, keepdims=True), labels=np.arange(p.shape[1])))


def fit_temperature(
    y_true: np.ndarray, probabilities: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature minimising the negative log-likelihood on these (validation)
    labels (Guo et al. 2017). One parameter, so it cannot overfit much; apply it
    unchanged to test with :func:`apply_temperature`."""
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(
            y_true, apply_temperature(probabilities, np.exp(log_t))
        ),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def fit_platt(y_true: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
    """Platt scaling of binary scores: ``(a, b)`` of the logistic regression of the
    (validation) labels on the logit of the scores, P = expit(a * logit(p) + b), fitted by
    maximum likelihood without a penalty (scikit-learn's ``LogisticRegression``). Unlike a
    temperature (a = 1 / T, b = 0) the intercept ``b`` also removes a constant offset of the
    logit; ``a`` and ``b`` are two numbers, so on a small split they are noisier than one
    temperature. Apply them unchanged to test with :func:`apply_platt`."""
    y_true = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1:
        raise ValueError("Platt scaling here is for binary scores (one probability per image)")
    z = logit(np.clip(p, _EPS, 1 - _EPS)).reshape(-1, 1)
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(z, y_true)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def apply_platt(probabilities: np.ndarray, a: float, b: float) -> np.ndarray:
    """expit(a * logit(p) + b): the Platt-scaled probabilities (:func:`fit_platt`). With
    ``a > 0`` the ranking, hence AUC, is unchanged."""
    p = np.clip(np.asarray(probabilities, dtype=float), _EPS, 1 - _EPS)
    return expit(a * logit(p) + b)


def _ece_rows(hit: np.ndarray, confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of every row of (R, N) arrays at once. In a bin, count * |observed - predicted|
    equals |sum(hit - confidence)|, so ECE = sum over bins of that, divided by N (the same
    value as :func:`expected_calibration_error`)."""
    rows, n = hit.shape
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    flat = (np.arange(rows)[:, None] * n_bins + bins).ravel()
    gap = np.bincount(flat, weights=(hit - confidence).ravel(), minlength=rows * n_bins)
    return np.abs(gap.reshape(rows, n_bins)).sum(axis=1) / n


def paired_bootstrap_ece(
    y_true: np.ndarray,
    probabilities_a: np.ndarray,
    probabilities_b: np.ndarray,
    n_bins: int = 10,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """ECE(a) - ECE(b) on the same test images (e.g. a recalibrated model minus the model
    as trained) with a percentile interval over stratified bootstrap replicates of the
    images, both ECEs computed on the same replicate (Efron & Tibshirani 1993; Davison &
    Hinkley 1997). Negative: ``a`` is better calibrated. Returns ``difference``, ``low``,
    ``high``."""
    y = np.asarray(y_true).astype(int).ravel()
    conf_a, hit_a = _confidence_and_hit(y, probabilities_a)
    conf_b, hit_b = _confidence_and_hit(y, probabilities_b)
    draws = stratified_bootstrap_indices(y, n_boot, seed)
    diffs = _ece_rows(hit_a[draws], conf_a[draws], n_bins) - _ece_rows(
        hit_b[draws], conf_b[draws], n_bins
    )
    alpha = (1.0 - level) / 2.0
    return {
        "difference": expected_calibration_error(y, probabilities_a, n_bins)
        - expected_calibration_error(y, probabilities_b, n_bins),
        "low": float(np.quantile(diffs, alpha)),
        "high": float(np.quantile(diffs, 1.0 - alpha)),
    }


def share_near_certain(probabilities: np.ndarray, margin: float = 0.1) -> float:
    """Share of binary predictions within ``margin`` of 0 or 1 (how full the outer bins of
    a reliability diagram are)."""
    p = np.asarray(probabilities, dtype=float).ravel()
    return float(np.mean((p <= margin) | (p >= 1.0 - margin)))
