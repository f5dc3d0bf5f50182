"""Scoring generated images: the Fréchet distance between two sets of classifier features
(the idea of the FID, Heusel et al. 2017, with a medical classifier instead of
Inception). Taught in ``notebooks/09_large_models.ipynb``.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from scipy import linalg

#: Added to the covariances' diagonals when their product is singular (as in pytorch-fid).
SINGULAR_OFFSET = 1e-6


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of feature
    vectors (rows), each summarised by its mean and covariance. 0 for identical
    distributions; grows as generated features drift from real ones."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)
            root = linalg.sqrtm(cov_a @ cov_b)
    except linalg.LinAlgWarning:
        # Fewer samples than features make the product singular: as the reference FID code
        # does, add a small multiple of the identity to both covariances and take the root.
        offset = np.eye(len(cov_a)) * SINGULAR_OFFSET
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = root.real  # tiny imaginary parts are numerical noise
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def feature_model(classifier: keras.Model, layer: str | None = None) -> keras.Model:
    """The classifier cut before its output layer (or at ``layer``): the feature space in
    which :func:`frechet_distance` compares real and generated images."""
    source = classifier.get_layer(layer) if layer else classifier.layers[-2]
    return keras.Model(classifier.inputs[0], source.output)
