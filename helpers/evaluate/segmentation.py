"""Overlap and distance metrics of segmentation masks: Dice, IoU and the 95th-percentile
Hausdorff distance. Taught in ``notebooks/06_segmentation_detection.ipynb``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def dice_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice = 2|P & T| / (|P| + |T|) of two boolean masks; 1.0 when both are empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2.0 * (pred & truth).sum() / total)


def iou_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union |P & T| / |P | T|; 1.0 when both are empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    return 1.0 if union == 0 else float((pred & truth).sum() / union)


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def hausdorff95(pred: np.ndarray, truth: np.ndarray) -> float:
    """95th percentile of the symmetric surface distances between two masks, in pixels
    (robust to a few stray pixels, unlike the maximum). NaN if either mask is empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() or not truth.any():
        return float("nan")
    ps, ts = _surface(pred), _surface(truth)
    to_truth = ndimage.distance_transform_edt(~ts)
    to_pred = ndimage.distance_transform_edt(~ps)
    distances = np.concatenate([to_truth[ps], to_pred[ts]])
    return float(np.percentile(distances, 95))
