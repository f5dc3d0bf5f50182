"""Scoring generated images: the Fréchet distance between two sets of classifier features
(the idea of the FID, Heusel et al. 2017, with a medical classifier instead of
Inception), at equal sample size and class mix with a real-vs-real reference, and two
pixel-space checks: diversity (mean pairwise distance) and memorisation (distance to the
nearest training image). Taught in ``notebooks/09_large_models.ipynb``.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist, pdist

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


def matched_frechet(
    real_features: np.ndarray,
    real_labels: np.ndarray,
    generated: dict[str, dict[int, np.ndarray]],
    *,
    repeats: int = 5,
    seed: int = 0,
) -> list[dict]:
    """Fréchet distances at equal sample size and equal class mix, with a real-vs-real
    reference at the same size: the distance depends on both (its estimate is biased upward
    at small N, and classes sit in different parts of feature space).

    Each repeat splits the real images (``real_features`` with ``real_labels``) into two
    halves stratified by class, A and B, and compares with B: the other real half A (the
    reference: two samples of one population at this N), and for each generator in
    ``generated`` (name -> class -> feature rows) a draw without replacement of exactly A's
    number of images per class. One row per repeat: ``{"repeat", "real": ..., name: ...}``,
    so the spread over repeats measures the sampling noise of the distances (not the
    generators' training seeds)."""
    labels = np.asarray(real_labels).ravel()
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(repeats):
        half_a, half_b = [], []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            half_a.append(members[: len(members) // 2])
            half_b.append(members[len(members) // 2 :])
        a_idx, b_idx = np.concatenate(half_a), np.concatenate(half_b)
        target = real_features[b_idx]
        row = {"repeat": r, "n": len(a_idx), "real": frechet_distance(real_features[a_idx], target)}
        for name, by_class in generated.items():
            draw = []
            for c, part in zip(np.unique(labels), half_a):
                pool = by_class[int(c)]
                if len(pool) < len(part):
                    raise ValueError(f"{name}: {len(pool)} samples of class {c}, need {len(part)}")
                draw.append(pool[rng.choice(len(pool), len(part), replace=False)])
            row[name] = frechet_distance(np.concatenate(draw), target)
        rows.append(row)
    return rows


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of ``images`` (flattened): a diversity
    measure. A generator whose samples vary less than real images of the same class (a
    blurry average, or mode collapse) scores lower than the real set."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    return float(pdist(flat).mean())


def nearest_distance(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each of ``images``, the Euclidean distance to its nearest neighbour in
    ``reference`` (flattened). Against the generator's training images this measures
    memorisation: samples much closer to a training image than fresh real images are are
    copies."""
    a = np.asarray(images, np.float64).reshape(len(images), -1)
    b = np.asarray(reference, np.float64).reshape(len(reference), -1)
    return cdist(a, b).min(axis=1)
