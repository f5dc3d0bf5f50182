"""Lesion detection from a predicted probability map: connected components become boxes
with scores, matched to the true boxes at an IoU threshold; precision/recall and the
FROC curve (sensitivity against false positives per image).

Taught in ``notebooks/06_segmentation_detection.ipynb``. Boxes are int arrays
``[y0, x0, y1, x1]`` with exclusive ends, as in :mod:`helpers.data.phantoms`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.segmentation import watershed


def split_touching(mask: np.ndarray, min_distance: int) -> tuple[np.ndarray, int]:
    """Label a binary mask, splitting blobs that touch: watershed on the distance
    transform, one seed per local maximum at least ``min_distance`` pixels apart.
    Returns (labels, count) like ``scipy.ndimage.label``."""

    distance = ndimage.distance_transform_edt(mask)
    components, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    peaks = peak_local_max(
        distance, min_distance=min_distance, labels=components, exclude_border=False
    )
    markers = np.zeros(mask.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-distance, markers, mask=mask)
    return labels, int(labels.max())


def boxes_from_probability(
    probability: np.ndarray,
    threshold: float = 0.5,
    min_area: int = 3,
    split_min_distance: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Connected components (8-connected) of ``probability >= threshold`` with at least
    ``min_area`` pixels -> (boxes (k, 4), scores (k,)); a box's score is the highest
    probability inside its component. With ``split_min_distance``, touching blobs are
    first split by :func:`split_touching` (two lesions that touch otherwise become one
    box)."""
    mask = probability >= threshold
    if split_min_distance is None:
        labelled, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    else:
        labelled, _ = split_touching(mask, split_min_distance)
    boxes, scores = [], []
    for index, found in enumerate(ndimage.find_objects(labelled), start=1):
        if found is None:
            continue
        component = labelled[found] == index
        if component.sum() < min_area:
            continue
        rows, cols = found
        boxes.append([rows.start, cols.start, rows.stop, cols.stop])
        scores.append(float(probability[found][component].max()))
    if not boxes:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0)
    return np.asarray(boxes, dtype=np.int64), np.asarray(scores)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes ``a`` (n, 4) and ``b`` (m, 4)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    y0 = np.maximum(a[:, None, 0], b[None, :, 0])
    x0 = np.maximum(a[:, None, 1], b[None, :, 1])
    y1 = np.minimum(a[:, None, 2], b[None, :, 2])
    x1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_detections(
    pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching in order of decreasing score: each prediction takes the unmatched
    true box it overlaps most if IoU >= ``iou``; a true box is matched at most once.
    Returns (prediction i is a true positive (n,), true lesion j is found (m,)): the one
    matching from which notebook 06 counts hits, false positives and missed lesions."""
    hits = np.zeros(len(pred), dtype=bool)
    taken = np.zeros(len(truth), dtype=bool)
    if len(pred) == 0 or len(truth) == 0:
        return hits, taken
    overlaps = box_iou(pred, truth)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        candidates = np.where(taken, -1.0, overlaps[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou:
            hits[i], taken[j] = True, True
    return hits, taken


def match_boxes(
    pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou: float = 0.5
) -> np.ndarray:
    """The predictions' side of :func:`match_detections`: a bool array, prediction i is a
    true positive."""
    return match_detections(pred, scores, truth, iou)[0]


def lesion_outcomes(
    predictions: list[tuple[np.ndarray, np.ndarray]], truths: list[np.ndarray], iou: float = 0.5
) -> dict[str, np.ndarray]:
    """One entry per true lesion, from the same matching as :func:`detection_table`:
    ``image`` and ``lesion`` (its index in the image), ``found`` (matched by a prediction)
    and ``best_iou`` (its largest IoU with any predicted box of the image, 0 without one).
    A missed lesion with ``best_iou >= iou`` lost its box to another lesion (one box
    matches one lesion). ``(~found).sum()`` equals the lesions minus the true positives of
    :func:`detection_table` by construction. Notebook 06 explains its misses from it."""
    image, lesion, found, best = [], [], [], []
    for k, ((boxes, s), truth) in enumerate(zip(predictions, truths, strict=True)):
        _, taken = match_detections(boxes, s, truth, iou)
        overlaps = box_iou(truth, boxes)
        image.extend([k] * len(truth))
        lesion.extend(range(len(truth)))
        found.extend(taken.tolist())
        best.extend(overlaps.max(axis=1).tolist() if len(boxes) else [0.0] * len(truth))
    return {
        "image": np.asarray(image, dtype=int),
        "lesion": np.asarray(lesion, dtype=int),
        "found": np.asarray(found, dtype=bool),
        "best_iou": np.asarray(best, dtype=float),
    }


def detection_table(
    predictions: list[tuple[np.ndarray, np.ndarray]], truths: list[np.ndarray], iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Pool all images: (scores, is_true_positive, image index) of every prediction, the
    number of true lesions and the number of images."""
    scores, hits, owner = [], [], []
    for k, ((boxes, s), truth) in enumerate(zip(predictions, truths)):
        scores.append(s)
        hits.append(match_boxes(boxes, s, truth, iou))
        owner.append(np.full(len(s), k))
    n_lesions = int(sum(len(t) for t in truths))
    return (
        np.concatenate(scores) if scores else np.zeros(0),
        np.concatenate(hits) if hits else np.zeros(0, bool),
        np.concatenate(owner) if owner else np.zeros(0, int),
        n_lesions,
        len(truths),
    )


def froc_curve(
    predictions: list[tuple[np.ndarray, np.ndarray]], truths: list[np.ndarray], iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FROC: for every score threshold (highest first), the mean number of false
    positives per image and the sensitivity (share of true lesions found). Returns
    (false positives per image, sensitivity, thresholds)."""
    scores, hits, _, n_lesions, n_images = detection_table(predictions, truths, iou)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    return fp / max(n_images, 1), tp / max(n_lesions, 1), scores[order]


def sensitivity_at_fp(fp_per_image: np.ndarray, sensitivity: np.ndarray, max_fp: float) -> float:
    """The highest sensitivity reached with at most ``max_fp`` false positives per image."""
    allowed = fp_per_image <= max_fp
    return float(sensitivity[allowed].max()) if allowed.any() else 0.0


def froc_point(
    fp_per_image: np.ndarray, sensitivity: np.ndarray, thresholds: np.ndarray, max_fp: float
) -> dict[str, float | bool]:
    """The FROC operating point used for a false-positive budget of ``max_fp`` per image:
    the highest sensitivity with at most ``max_fp`` false positives per image, the false
    positives per image actually made there, and the map threshold that gives it.
    ``reached`` is False when the curve never makes as many as ``max_fp`` false positives
    per image: the point is then the curve's end, the same for every larger budget, and a
    table should say "not reached" rather than show the budget as if it had been used
    (notebook 06). Sensitivity is 0 and the rest NaN when no point is within the budget."""
    fp_per_image = np.asarray(fp_per_image, dtype=float)
    sensitivity = np.asarray(sensitivity, dtype=float)
    allowed = np.flatnonzero(fp_per_image <= max_fp)
    reached = bool(fp_per_image.size and fp_per_image.max() >= max_fp)
    if not allowed.size:
        return {"sensitivity": 0.0, "fp_per_image": np.nan, "threshold": np.nan, "reached": reached}
    best = allowed[np.argmax(sensitivity[allowed])]  # the first (fewest FP) on a tie
    return {
        "sensitivity": float(sensitivity[best]),
        "fp_per_image": float(fp_per_image[best]),
        "threshold": float(np.asarray(thresholds)[best]),
        "reached": reached,
    }


def froc_by_map_threshold(
    probabilities: np.ndarray,
    truths: list[np.ndarray],
    thresholds=None,
    iou: float = 0.5,
    min_area: int = 3,
    split_min_distance: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FROC operating points of the whole pipeline: for each probability-map threshold,
    extract components (:func:`boxes_from_probability`) and count lesions found and false
    positives per image. Unlike ranking one fixed set of boxes by score, a lower map
    threshold can also *grow* or *merge* components, so every point is a detector one
    would actually run. ``split_min_distance`` is passed on to
    :func:`boxes_from_probability`. Returns (false positives per image, sensitivity,
    thresholds), ordered by increasing false positives."""
    thresholds = np.linspace(0.95, 0.05, 19) if thresholds is None else np.asarray(thresholds)
    n_lesions = max(int(sum(len(t) for t in truths)), 1)
    fp_rate, sensitivity = [], []
    for t in thresholds:
        found = fp = 0
        for prob, truth in zip(probabilities, truths):
            boxes, scores = boxes_from_probability(prob, float(t), min_area, split_min_distance)
            hits = match_boxes(boxes, scores, truth, iou)
            found += int(hits.sum())
            fp += int((~hits).sum())
        fp_rate.append(fp / max(len(truths), 1))
        sensitivity.append(found / n_lesions)
    order = np.argsort(fp_rate, kind="stable")
    return np.asarray(fp_rate)[order], np.asarray(sensitivity)[order], thresholds[order]
