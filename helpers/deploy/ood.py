"""An out-of-distribution check on a model's own features: the Mahalanobis distance of an
image's penultimate-layer features (global average pooling for the compact CNN) from those of
the training images (Lee et al. 2018, with one class-agnostic Gaussian and a Ledoit-Wolf
covariance). The threshold is a quantile of the *validation* images' distances (held out from
the fit: in-sample distances are biased low), so about ``1 - quantile`` of in-distribution
images are flagged; how many
out-of-distribution images it catches is measured, not assumed (``notebooks/08_deployment.ipynb``
reports both, and the model card states them). :func:`refusal_interval` puts an interval on
a measured refusal rate that includes the uncertainty of the threshold itself.

NumPy only at prediction time (the predict command stays TensorFlow-free for TFLite models);
the statistics are stored beside the model in ``<name>_features.npz`` and the sidecar
(the ``ood`` field of :class:`helpers.deploy.lite.ModelInfo`) names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import atomic

#: The share of validation images whose distance lies below the threshold.
DEFAULT_QUANTILE = 0.99


@dataclass
class FeatureDistance:
    """Mahalanobis distance from the reference features' mean under their covariance."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float = float("inf")
    quantile: float = DEFAULT_QUANTILE

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        calibration: np.ndarray | None = None,
        quantile: float = DEFAULT_QUANTILE,
    ) -> FeatureDistance:
        """Mean and Ledoit-Wolf-shrunk precision of ``features`` (N, D; the training split),
        threshold at the ``quantile`` of the ``calibration`` features' distances (the
        validation split; without it, of ``features``' own, which flags too many new images)."""
        from sklearn.covariance import LedoitWolf  # deferred: only fitting needs scikit-learn

        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"need reference features (N >= 2, D), got shape {features.shape}")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
        estimate = LedoitWolf().fit(features)
        check = cls(estimate.location_, estimate.precision_, quantile=quantile)
        held_out = features if calibration is None else calibration
        check.threshold = float(np.quantile(check.score(held_out), quantile))
        return check

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance of each row of ``features`` (N, D): larger is less like the reference."""
        centred = np.asarray(features, np.float64) - self.mean
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", centred, self.precision, centred), 0))

    def flags(self, features: np.ndarray) -> np.ndarray:
        """True where the distance exceeds the threshold."""
        return self.score(features) > self.threshold

    def save(self, path: str | Path) -> Path:
        """Write the statistics as an ``.npz`` file (atomically)."""
        path = Path(path)
        with atomic.staged_file(path) as staging, open(staging, "wb") as handle:
            np.savez(
                handle,
                mean=self.mean,
                precision=self.precision,
                threshold=self.threshold,
                quantile=self.quantile,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureDistance:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as stored:
                return cls(
                    stored["mean"],
                    stored["precision"],
                    float(stored["threshold"]),
                    float(stored["quantile"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable feature-distance file: {exc}") from exc


def refusal_interval(
    calibration_scores: np.ndarray,
    scores: np.ndarray,
    quantile: float = DEFAULT_QUANTILE,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Share of ``scores`` above the threshold set at the ``quantile`` of
    ``calibration_scores``, with a percentile bootstrap interval that accounts for both
    sources of chance: every replicate resamples the calibration (validation) distances and
    re-estimates the threshold from them, and resamples the scored images. An interval over
    the scored images alone treats the threshold as known, which it is not: a 99 % point
    estimated from a few hundred validation images moves from sample to sample. Returns
    (estimate, low, high); the estimate uses the threshold from all calibration scores.
    Taught in ``notebooks/08_deployment.ipynb``."""
    calibration_scores = np.asarray(calibration_scores, np.float64).ravel()
    scores = np.asarray(scores, np.float64).ravel()
    if len(calibration_scores) < 2 or len(scores) < 1:
        raise ValueError("need at least two calibration scores and one scored image")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    rng = np.random.default_rng(seed)
    estimate = float(np.mean(scores > np.quantile(calibration_scores, quantile)))
    thresholds = np.quantile(
        rng.choice(calibration_scores, (n_boot, len(calibration_scores))), quantile, axis=1
    )
    resampled = rng.choice(scores, (n_boot, len(scores)))
    shares = np.mean(resampled > thresholds[:, None], axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(shares, [tail, 1 - tail])
    return estimate, float(low), float(high)
