"""Does a predicted 0.9 mean 90 %? Reliability diagrams, expected calibration error, the
Brier score, and temperature scaling fitted on the validation split.

Taught in ``notebooks/04_evaluation.ipynb``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit, softmax
from sklearn.metrics import brier_score_loss, log_loss

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
