"""Label noise, made and found: flip an exact share of training labels (seeded), and find
suspect labels by out-of-fold confidence, the probability a model that never saw an image
gives to that image's own label (cross-validated predictions, scikit-learn; the idea of
confident learning, Northcutt et al. 2021, in its simplest form). Taught in
``notebooks/10_generalization.ipynb``; a duplicate across splits, the other data-quality
fault, is in ``notebooks/01_data.ipynb`` (:mod:`helpers.data.leakage`).

The noisy copies are :class:`helpers.data.medmnist.MedMNIST` objects with a new fingerprint
(:func:`with_train_labels`), so the model cache keys a model trained on them apart from one
trained on the published labels.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from helpers.data.medmnist import MedMNIST


def flip_labels(
    labels: np.ndarray, rate: float, seed: int = 0, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate * N)`` of the integer ``labels`` (chosen without
    replacement, seeded): binary labels to the other class, multi-class ones to a different
    class drawn uniformly. Returns ``(noisy labels, flipped mask)``."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"flip_labels takes single-label (N,) labels, got shape {labels.shape}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    k = int(n_classes if n_classes is not None else max(2, int(labels.max()) + 1))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=int(round(rate * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + rng.integers(1, k, size=len(chosen))) % k
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def _fingerprint(data: MedMNIST, tag: str, payload: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(payload).tobytes()).hexdigest()[:12]
    return f"{data.fingerprint}+{tag}-{digest}"


def with_train_labels(data: MedMNIST, labels: np.ndarray, tag: str = "labels") -> MedMNIST:
    """A copy of ``data`` whose training split carries ``labels``, with a fingerprint that
    names them (a hash of the labels), so cached models trained on them are kept apart."""
    labels = np.asarray(labels)
    if labels.shape != data.labels["train"].shape:
        raise ValueError(f"need {data.labels['train'].shape} labels, got {labels.shape}")
    return dataclasses.replace(
        data,
        labels={**data.labels, "train": labels},
        md5=_fingerprint(data, tag, labels.astype(np.int64)),
    )


def without_train_images(data: MedMNIST, drop: np.ndarray, tag: str = "dropped") -> MedMNIST:
    """A copy of ``data`` without the training images at the indices (or boolean mask)
    ``drop``, fingerprinted by what was kept."""
    keep = np.ones(len(data.labels["train"]), dtype=bool)
    keep[np.asarray(drop)] = False
    return dataclasses.replace(
        data,
        images={**data.images, "train": data.images["train"][keep]},
        labels={**data.labels, "train": data.labels["train"][keep]},
        md5=_fingerprint(data, tag, np.flatnonzero(keep)),
    )


def out_of_fold_confidence(
    images: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0, components: int = 50
) -> np.ndarray:
    """For each image, the probability that a model trained on the *other* folds gives to
    the image's own label: stratified ``folds``-fold cross-validated predictions of a
    PCA (``components``) + class-balanced logistic regression on the pixels. A low value
    marks a label the rest of the data disagrees with."""
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    y = np.asarray(labels).astype(int)
    model = make_pipeline(
        PCA(n_components=min(components, x.shape[1], len(x) - 1), random_state=seed),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probabilities = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
    classes = np.unique(y)  # cross_val_predict orders the columns by the sorted classes
    return probabilities[np.arange(len(y)), np.searchsorted(classes, y)]


def suspect_labels(confidence: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Indices of the labels whose out-of-fold confidence lies below ``threshold`` (0.5 for
    two classes: the held-out model prefers the other class)."""
    return np.flatnonzero(np.asarray(confidence) < threshold)
