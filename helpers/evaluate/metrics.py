"""Classification metrics built on scikit-learn, and decision thresholds chosen on the
validation split.

Introduced in ``notebooks/03_training.ipynb`` (test AUC and accuracy at a threshold chosen
on validation); ``notebooks/04_evaluation.ipynb`` teaches the full set
(:func:`classification_metrics`, :func:`threshold_at_sensitivity`), with confidence
intervals from :mod:`helpers.evaluate.uncertainty`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
    roc_curve,
)

#: The binary metrics of :func:`classification_metrics`, in table order.
BINARY_METRICS = (
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "f1",
    "balanced_accuracy",
    "roc_auc",
    "pr_auc",
)
#: The multi-class metrics of :func:`classification_metrics` (one-vs-rest, macro averages).
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "macro_specificity",
    "roc_auc",
    "pr_auc",
)


def youden_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising Youden's J = sensitivity + specificity - 1.
    Call it on the *validation* split only, then apply the threshold unchanged to test."""
    fpr, tpr, thresholds = roc_curve(y_true, scores)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def validation_thresholds(
    y_val: np.ndarray, scores_val: np.ndarray, kind: str
) -> float | list[float] | None:
    """The thresholds of a deployed decision rule, chosen on the validation split by task
    kind (:attr:`MedMNISTInfo.task_kind`): binary, Youden's J on the probability of class 1
    (one float); multi-label, Youden's J of each label on its own probability (a list; 0.5
    for a label that has only one value in validation);
    multi-class and ordinal, none (the most probable class is called). Apply them unchanged
    to test with :func:`decide`. Taught in ``notebooks/08_deployment.ipynb``."""
    y_val, scores_val = np.asarray(y_val), np.asarray(scores_val, dtype=float)
    if kind == "binary":
        positive = scores_val[:, -1] if scores_val.ndim == 2 else scores_val
        return youden_threshold(y_val.ravel(), positive)
    if kind == "multi-label":
        # a label without both values in validation has no ROC curve: MedMNIST's 0.5 for it
        return [
            youden_threshold(y_val[:, k], scores_val[:, k])
            if 0 < y_val[:, k].sum() < len(y_val)
            else MEDMNIST_THRESHOLD
            for k in range(y_val.shape[1])
        ]
    if kind in ("multi-class", "ordinal"):
        return None
    raise ValueError(
        f"kind must be 'binary', 'multi-class', 'ordinal' or 'multi-label', not {kind!r}"
    )


def decide(
    scores: np.ndarray, kind: str, thresholds: float | list[float] | None = None
) -> np.ndarray:
    """The calls of a decision rule on scores (N, ...), by task kind: binary, 1 where the
    probability of class 1 reaches ``thresholds`` (default 0.5), else 0, shape (N,);
    multi-class and ordinal, the most probable class (N,); multi-label, 1 for every label
    whose probability reaches its own threshold (default 0.5 each), shape (N, L). The same
    rule as ``python -m helpers predict`` (:class:`helpers.deploy.predict.Predictor`)."""
    scores = np.asarray(scores, dtype=float)
    if kind == "binary":
        positive = scores[:, -1] if scores.ndim == 2 else scores
        cut = MEDMNIST_THRESHOLD if thresholds is None else float(thresholds)
        return (positive >= cut).astype(int)
    if kind in ("multi-class", "ordinal"):
        return scores.argmax(axis=1)
    if kind == "multi-label":
        cuts = MEDMNIST_THRESHOLD if thresholds is None else np.asarray(thresholds, dtype=float)
        return (scores >= cuts).astype(int)
    raise ValueError(
        f"kind must be 'binary', 'multi-class', 'ordinal' or 'multi-label', not {kind!r}"
    )


def threshold_at_sensitivity(y_true: np.ndarray, scores: np.ndarray, target: float = 0.95) -> float:
    """The highest score threshold whose sensitivity on (validation) data is at least
    ``target``: the most specific operating point that still finds that share of positives."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1], not {target}")
    fpr, tpr, thresholds = roc_curve(y_true, scores)
    reaching = np.flatnonzero(tpr >= target - 1e-12)
    return float(min(thresholds[reaching[0]], 1.0))


def metrics_from_counts(tp, fp, tn, fn) -> dict[str, np.ndarray]:
    """Accuracy, sensitivity, specificity, PPV, NPV, F1 and balanced accuracy from
    confusion counts (scalars or arrays: :mod:`helpers.evaluate.uncertainty` passes one count per
    bootstrap replicate). A ratio with a zero denominator is NaN."""
    tp, fp, tn, fn = (np.asarray(v, dtype=float) for v in (tp, fp, tn, fn))

    def ratio(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    sensitivity, specificity = ratio(tp, tp + fn), ratio(tn, tn + fp)
    return {
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "balanced_accuracy": (sensitivity + specificity) / 2,
    }


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """Every metric of a classifier, from scikit-learn.

    Binary (``scores`` 1-D, the positive class's probability): accuracy, sensitivity
    (recall), specificity, PPV (precision), NPV, F1 and balanced accuracy of
    ``scores >= threshold``, and the threshold-free ROC-AUC and PR-AUC (average precision).
    Multi-class (``scores`` (N, K)): the arg-max class for accuracy, balanced accuracy
    (= macro sensitivity), macro F1 and one-vs-rest macro specificity; macro one-vs-rest
    ROC-AUC and PR-AUC. Undefined values (no positives, no predicted positives) are NaN.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim == 1:
        if threshold is None:
            raise ValueError("binary scores need a threshold (choose it on validation)")
        tn, fp, fn, tp = confusion_matrix(
            y_true, (scores >= threshold).astype(int), labels=[0, 1]
        ).ravel()
        out = {name: float(value) for name, value in metrics_from_counts(tp, fp, tn, fn).items()}
        out["roc_auc"] = (
            float(roc_auc_score(y_true, scores)) if 0 < y_true.sum() < len(y_true) else np.nan
        )
        out["pr_auc"] = float(average_precision_score(y_true, scores)) if y_true.any() else np.nan
        return out
    n_classes = scores.shape[1]
    predicted = scores.argmax(axis=1)
    labels = np.arange(n_classes)
    matrix = confusion_matrix(y_true, predicted, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.diag(matrix) / matrix.sum(axis=1)
        negatives = matrix.sum() - matrix.sum(axis=1)
        specificity = (negatives - (matrix.sum(axis=0) - np.diag(matrix))) / negatives
    present = [k for k in labels if 0 < (y_true == k).sum() < len(y_true)]
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(np.nanmean(sensitivity)),
        "macro_f1": float(
            f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "macro_specificity": float(np.nanmean(specificity)),
        "roc_auc": auc_score(y_true, scores, "multi-class"),
        "pr_auc": float(
            np.mean([average_precision_score(y_true == k, scores[:, k]) for k in present])
        ),
    }


def binary_summary(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC (threshold-free) and accuracy, sensitivity, specificity and balanced accuracy
    of ``scores >= threshold`` (the short table of 03; :func:`classification_metrics` has all)."""
    every = classification_metrics(y_true, scores, threshold)
    return {
        "auc": every["roc_auc"],
        **{k: every[k] for k in ("accuracy", "sensitivity", "specificity", "balanced_accuracy")},
        "threshold": float(threshold),
    }


def auc_score(y_true: np.ndarray, scores: np.ndarray, kind: str = "binary") -> float:
    """ROC AUC, the one definition every notebook and the training engine use (MedMNIST's
    evaluator defines it the same way). ``kind``: ``"binary"`` (scores: probability of
    class 1), ``"multi-class"`` (integer labels, scores (N, K): macro mean of the
    one-vs-rest AUCs over the classes present; the scores need not sum to 1; ``"ordinal"``
    is scored the same way) or ``"multi-label"`` (0/1 labels (N, L): macro mean over the
    labels that have both values). ``kind`` is :attr:`MedMNISTInfo.task_kind`."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    if kind == "binary":
        positive = scores[:, -1] if scores.ndim == 2 else scores
        return float(roc_auc_score(y_true.ravel(), positive))
    if kind in ("multi-class", "ordinal"):
        y_true = y_true.ravel()
        pairs = [(y_true == k, scores[:, k]) for k in range(scores.shape[1])]
    elif kind == "multi-label":
        pairs = [(y_true[:, k], scores[:, k]) for k in range(scores.shape[1])]
    else:
        raise ValueError(
            f"kind must be 'binary', 'multi-class', 'ordinal' or 'multi-label', not {kind!r}"
        )
    aucs = [roc_auc_score(truth, score) for truth, score in pairs if 0 < np.sum(truth) < len(truth)]
    if not aucs:
        raise ValueError(
            "AUC is undefined: no class (or label) has both positive and negative examples"
        )
    return float(np.mean(aucs))


def auc_rows(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary ROC AUC of each row of (B, N) 0/1 labels and scores at once (the
    Mann-Whitney form, ties counted half, equal to :func:`auc_score` row by row): a
    thousand bootstrap replicates cost one ranking instead of a thousand calls."""
    y = np.asarray(y_true).astype(bool)
    ranks = rankdata(np.asarray(scores, dtype=float), axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


#: MedMNIST's decision threshold for binary and multi-label scores.
MEDMNIST_THRESHOLD = 0.5


def medmnist_accuracy(y_true: np.ndarray, scores: np.ndarray, kind: str = "binary") -> float:
    """Accuracy as MedMNIST's evaluator defines it (the ACC of its benchmark tables, beside
    :func:`auc_score`; ``notebooks/03_training.ipynb`` reports it over seeds): binary, the
    score of class 1 above 0.5; multi-class and ordinal, the arg-max class; multi-label, the
    mean over labels of each label's accuracy at 0.5. ``kind`` is :attr:`MedMNISTInfo.task_kind`."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    if kind == "binary":
        positive = scores[:, -1] if scores.ndim == 2 else scores
        return float(np.mean((positive > MEDMNIST_THRESHOLD) == (y_true.ravel() == 1)))
    if kind in ("multi-class", "ordinal"):
        return float(np.mean(scores.argmax(axis=1) == y_true.ravel()))
    if kind == "multi-label":
        return float(np.mean(((scores > MEDMNIST_THRESHOLD) == (y_true == 1)).mean(axis=0)))
    raise ValueError(
        f"kind must be 'binary', 'multi-class', 'ordinal' or 'multi-label', not {kind!r}"
    )


def task_metrics(y_true: np.ndarray, scores: np.ndarray, kind: str) -> dict[str, float]:
    """The whole task's metrics, by the benchmark's definitions: ``AUC`` (:func:`auc_score`)
    and ``ACC`` (:func:`medmnist_accuracy`); for ordinal grades also ``quadratic kappa``
    (Cohen's kappa with squared-distance weights: agreement beyond chance, where being two
    grades off costs four times as much as one) and ``grade MAE`` (mean absolute grade error
    of the arg-max grade; the grades are the class indices 0 to K - 1 in order, as MedMNIST
    stores them). ``kind`` is :attr:`MedMNISTInfo.task_kind`. Taught in sections 9 and 10 of
    ``notebooks/04_evaluation.ipynb``."""
    out = {"AUC": auc_score(y_true, scores, kind), "ACC": medmnist_accuracy(y_true, scores, kind)}
    if kind == "ordinal":
        y = np.asarray(y_true).astype(int).ravel()
        grades = np.asarray(scores).argmax(axis=1)
        out["quadratic kappa"] = float(
            cohen_kappa_score(y, grades, weights="quadratic", labels=np.arange(scores.shape[1]))
        )
        out["grade MAE"] = float(np.mean(np.abs(grades - y)))
    return out


def per_class_table(
    y_true: np.ndarray,
    scores: np.ndarray,
    kind: str,
    class_names: tuple[str, ...] | list[str],
    thresholds: np.ndarray | None = None,
) -> list[dict[str, object]]:
    """One row per class (or label) of a whole task: test count, how often it is predicted,
    sensitivity (recall), precision (PPV) and its one-vs-rest ROC-AUC.

    The decision is the task's own: binary, class 1 when its score (the probability of class
    1, not of a finding recast as positive) reaches ``thresholds`` (one value) or, by
    default, exceeds MedMNIST's 0.5; multi-class and ordinal, the arg-max class; multi-label,
    each label on its own, at or above its threshold (one per label, e.g. chosen on
    validation) or by default above 0.5, where a row's specificity is given too. Undefined
    values (no positives, nothing predicted) are NaN. Taught in section 10 of
    ``notebooks/04_evaluation.ipynb``."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    n_classes = len(class_names)
    if kind == "multi-label":
        cut = np.full(n_classes, MEDMNIST_THRESHOLD) if thresholds is None else thresholds
        truth = y_true.astype(bool)
        cut = np.asarray(cut, dtype=float)
        predicted = scores > cut if thresholds is None else scores >= cut
        columns = [(truth[:, k], predicted[:, k], scores[:, k]) for k in range(n_classes)]
    else:
        y = y_true.astype(int).ravel()
        if kind == "binary":
            cut = MEDMNIST_THRESHOLD if thresholds is None else float(thresholds)
            positive = scores[:, -1] if scores.ndim == 2 else scores
            decided = (positive > cut if thresholds is None else positive >= cut).astype(int)
            per_class = np.stack([1.0 - positive, positive], axis=1)
        else:
            decided, per_class = scores.argmax(axis=1), scores
        columns = [(y == k, decided == k, per_class[:, k]) for k in range(n_classes)]
    rows = []
    for k, (truth, predicted, score) in enumerate(columns):
        tp = int(np.sum(truth & predicted))
        with np.errstate(invalid="ignore", divide="ignore"):
            row: dict[str, object] = {
                "class": class_names[k],
                "n": int(truth.sum()),
                "predicted": int(predicted.sum()),
                "sensitivity": np.float64(tp) / truth.sum() if truth.any() else np.nan,
                "precision": np.float64(tp) / predicted.sum() if predicted.any() else np.nan,
            }
        if kind == "multi-label":
            negatives = ~truth
            row["specificity"] = (
                float(np.sum(negatives & ~predicted) / negatives.sum())
                if negatives.any()
                else np.nan
            )
            row["threshold"] = float(np.asarray(cut)[k])
        row["AUC"] = float(roc_auc_score(truth, score)) if 0 < truth.sum() < len(truth) else np.nan
        rows.append(
            {key: (float(v) if isinstance(v, np.floating) else v) for key, v in row.items()}
        )
    return rows
