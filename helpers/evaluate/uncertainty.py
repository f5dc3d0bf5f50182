"""How sure are we of a number measured on a few hundred test images? Stratified
bootstrap confidence intervals for every metric, ROC/PR curves with bootstrap bands, and
paired comparisons of two models (DeLong's test and the paired bootstrap), and
:func:`bootstrap_ci` for any per-item score (Dice per image, error per patient).

Taught in ``notebooks/04_evaluation.ipynb``. The metrics themselves come from
:mod:`helpers.evaluate.metrics` (scikit-learn underneath).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn
from scipy import stats
from sklearn.metrics import (
    average_precision_score,
    cohen_kappa_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from helpers.evaluate.metrics import (
    BINARY_METRICS,
    auc_rows,
    auc_score,
    classification_metrics,
    metrics_from_counts,
    task_metrics,
    threshold_at_sensitivity,
    youden_threshold,
)

#: Bootstrap replicates scored at once by :func:`task_metrics_with_ci` (bounds the memory of
#: a large test split: replicates x images x classes scores at a time).
REPLICATE_CHUNK = 100


def stratified_bootstrap_indices(
    y_true: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """(n_boot, N) indices: each replicate resamples every class with replacement within
    itself, so each replicate keeps the test set's class counts (and always has both
    classes, which AUC needs)."""
    y_true = np.asarray(y_true).astype(int).ravel()
    rng = np.random.default_rng(seed)
    parts = []
    for label in np.unique(y_true):
        members = np.flatnonzero(y_true == label)
        parts.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    return np.concatenate(parts, axis=1)


def _fast_sklearn():
    """Inside bootstrap loops the inputs were already validated once (by the point
    estimate), so scikit-learn may skip its per-call checks (about 25 % faster)."""
    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def bootstrap_ci(
    values: np.ndarray, *, statistic=np.mean, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap interval of ``statistic`` over items
    (images, patients) resampled with replacement; NaNs are dropped first."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = np.apply_along_axis(statistic, 1, values[draws])
    return (float(statistic(values)), *_interval(stats, level))


def ci_table(
    per_item: dict[str, dict[str, np.ndarray]],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    name: str = "method",
) -> pd.DataFrame:
    """One row per entry of ``per_item`` (e.g. a method) and, for each score in it
    (values per image), three columns: ``<score>`` (the mean), ``<score> low`` and
    ``<score> high`` (the :func:`bootstrap_ci` interval). Notebook 05's localisation and
    faithfulness tables, and their error bars, come from it."""
    rows = []
    for key, scores in per_item.items():
        row: dict[str, object] = {name: key}
        for label, values in scores.items():
            estimate, low, high = bootstrap_ci(values, n_boot=n_boot, level=level, seed=seed)
            row.update({label: estimate, f"{label} low": low, f"{label} high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def metrics_with_ci(
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    metrics: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Every metric (or those named in ``metrics``) of
    :func:`helpers.evaluate.metrics.classification_metrics` with a stratified,
    seeded percentile-bootstrap interval: a table with columns metric, estimate, low, high.

    Binary scores need the ``threshold`` chosen on validation; multi-class scores (N, K)
    use the arg-max class. The threshold is held fixed across replicates: the interval
    covers the uncertainty of the test set, not of the threshold choice."""
    y_true = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(scores, dtype=float)
    point = classification_metrics(y_true, scores, threshold)
    draws = stratified_bootstrap_indices(y_true, n_boot, seed)
    if scores.ndim == 1:
        y_b = y_true[draws].astype(bool)
        predicted = (scores >= threshold)[draws]
        counts = (
            (y_b & predicted).sum(1),
            (~y_b & predicted).sum(1),
            (~y_b & ~predicted).sum(1),
            (y_b & ~predicted).sum(1),
        )
        replicates = metrics_from_counts(*counts)
        names = metrics or BINARY_METRICS
        with _fast_sklearn():
            if "roc_auc" in names:
                replicates["roc_auc"] = auc_rows(y_true[draws], scores[draws])
            if "pr_auc" in names:
                replicates["pr_auc"] = np.array(
                    [average_precision_score(y_true[d], scores[d]) for d in draws]
                )
    else:
        rows = [classification_metrics(y_true[d], scores[d]) for d in draws]
        names = metrics or tuple(point)
        replicates = {name: np.array([r[name] for r in rows]) for name in names}
    table = []
    for name in names:
        low, high = _interval(replicates[name], level)
        table.append({"metric": name, "estimate": point[name], "low": low, "high": high})
    return pd.DataFrame(table)


def _task_replicates(y: np.ndarray, s: np.ndarray, kind: str, draws: np.ndarray) -> dict:
    """:func:`helpers.evaluate.metrics.task_metrics` of each replicate (row of ``draws``)."""
    if kind == "multi-label":
        y_b = y[draws]
        # the labels the point estimate averages (both values in the test split); a replicate
        # in which one of them lost every positive (or negative) gives NaN and is dropped
        defined = [k for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
        auc = np.stack([auc_rows(y_b[..., k], s[draws, k]) for k in defined], 1).mean(axis=1)
        acc = ((s[draws] > 0.5) == (y_b == 1)).mean(axis=1).mean(axis=1)
        return {"AUC": auc, "ACC": acc}
    y_b = y[draws]
    if kind == "binary":
        positive = s[:, -1] if s.ndim == 2 else s
        return {
            "AUC": auc_rows(y_b, positive[draws]),
            "ACC": ((positive[draws] > 0.5) == (y_b == 1)).mean(axis=1),
        }
    present = [k for k in range(s.shape[1]) if 0 < np.sum(y == k) < len(y)]
    auc = np.mean(np.stack([auc_rows(y_b == k, s[draws, k]) for k in present], 1), axis=1)
    grades = s.argmax(axis=1)[draws]
    out = {"AUC": auc, "ACC": (grades == y_b).mean(axis=1)}
    if kind == "ordinal":
        labels = np.arange(s.shape[1])
        with _fast_sklearn():
            out["quadratic kappa"] = np.array(
                [
                    cohen_kappa_score(t, g, weights="quadratic", labels=labels)
                    for t, g in zip(y_b, grades)
                ]
            )
        out["grade MAE"] = np.abs(grades - y_b).mean(axis=1)
    return out


def task_metrics_with_ci(
    y_true: np.ndarray,
    scores: np.ndarray,
    kind: str,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The whole task's metrics (:func:`helpers.evaluate.metrics.task_metrics`: AUC and ACC
    by MedMNIST's definitions, and for ordinal grades quadratic kappa and grade MAE) with
    percentile-bootstrap intervals over test images: columns metric, estimate, low, high.

    Single-label tasks resample within each class, as :func:`metrics_with_ci` does, so every
    replicate keeps the test set's class counts (for a binary task the draws, and so the AUC
    interval, are those of :func:`metrics_with_ci` on the same labels and seed); a multi-label
    image carries several labels at once, so there whole images are resampled, and a
    replicate in which a label loses all its positives (its AUC undefined) is dropped, as are
    replicates whose kappa is undefined. Taught in sections 9 and 10 of
    ``notebooks/04_evaluation.ipynb``."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    point = task_metrics(y, s, kind)
    if kind == "multi-label":
        y = y.astype(int)
        draws = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    else:
        y = y.astype(int).ravel()
        draws = stratified_bootstrap_indices(y, n_boot, seed)
    chunks = [
        _task_replicates(y, s, kind, draws[start : start + REPLICATE_CHUNK])
        for start in range(0, n_boot, REPLICATE_CHUNK)
    ]
    rows = []
    for name, estimate in point.items():
        low, high = _interval(np.concatenate([c[name] for c in chunks]), level)
        rows.append({"metric": name, "estimate": estimate, "low": low, "high": high})
    return pd.DataFrame(rows)


def roc_with_band(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    grid: np.ndarray | None = None,
) -> pd.DataFrame:
    """The ROC curve on a grid of false-positive rates with a pointwise bootstrap band:
    columns fpr, tpr, low, high (vertical averaging of stratified replicates)."""
    grid = np.linspace(0.0, 1.0, 201) if grid is None else np.asarray(grid)

    def curve(y, s):
        fpr, tpr, _ = roc_curve(y, s)
        return np.interp(grid, fpr, tpr)

    return _curve_band(y_true, scores, curve, grid, ("fpr", "tpr"), n_boot, level, seed)


def pr_with_band(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    grid: np.ndarray | None = None,
) -> pd.DataFrame:
    """The precision-recall curve on a grid of recalls with a pointwise bootstrap band:
    columns recall, precision, low, high. Precision at a recall is the best precision
    reachable at that recall or more (the usual interpolation)."""
    grid = np.linspace(0.0, 1.0, 201) if grid is None else np.asarray(grid)

    def curve(y, s):
        precision, recall, _ = precision_recall_curve(y, s)
        # recall decreases along the arrays, so the best precision at recall >= r is a running max
        envelope = np.maximum.accumulate(precision)
        return np.interp(grid, recall[::-1], envelope[::-1])

    return _curve_band(y_true, scores, curve, grid, ("recall", "precision"), n_boot, level, seed)


def _curve_band(y_true, scores, curve, grid, names, n_boot, level, seed) -> pd.DataFrame:
    """A curve sampled on ``grid`` (``curve(y, s)``) with its pointwise band over stratified
    bootstrap replicates: columns ``names[0]`` (the grid), ``names[1]``, low, high."""
    y_true = np.asarray(y_true).astype(int).ravel()
    with _fast_sklearn():
        curves = np.array(
            [
                curve(y_true[d], scores[d])
                for d in stratified_bootstrap_indices(y_true, n_boot, seed)
            ]
        )
    alpha = (1.0 - level) / 2.0
    return pd.DataFrame(
        {
            names[0]: grid,
            names[1]: curve(y_true, scores),
            "low": np.quantile(curves, alpha, axis=0),
            "high": np.quantile(curves, 1.0 - alpha, axis=0),
        }
    )


def delong_test(y_true: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """DeLong's test for two correlated ROC AUCs measured on the same cases (DeLong et al.
    1988, with the fast mid-rank algorithm of Sun & Xu 2014). Returns both AUCs, their
    difference a - b, its standard error, a 95 % normal interval, z and the two-sided p."""
    y_true = np.asarray(y_true).astype(int).ravel()
    positive, negative = y_true == 1, y_true == 0
    m, n = int(positive.sum()), int(negative.sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes in y_true")
    aucs, v10, v01 = [], [], []
    for scores in (np.asarray(scores_a, float), np.asarray(scores_b, float)):
        x, y = scores[positive], scores[negative]
        rank_all = stats.rankdata(np.concatenate([x, y]))
        rank_x, rank_y = stats.rankdata(x), stats.rankdata(y)
        aucs.append((rank_all[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((rank_all[:m] - rank_x) / n)  # structural components of positives
        v01.append(1.0 - (rank_all[m:] - rank_y) / m)  # and of negatives
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / n
    difference = aucs[0] - aucs[1]
    se = float(np.sqrt(max(variance, 0.0)))
    z = difference / se if se > 0 else (0.0 if difference == 0 else np.inf * np.sign(difference))
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "difference": float(difference),
        "se": se,
        "low": float(difference - 1.959964 * se),
        "high": float(difference + 1.959964 * se),
        "z": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
    }


def paired_bootstrap_auc(
    y_true: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    kind: str = "binary",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same replicates, its percentile interval and a two-sided
    bootstrap p-value: twice the smaller of (1 + replicates on each side of 0) /
    (1 + replicates), so it is never 0 and at least 2 / (replicates + 1) (Davison & Hinkley
    1997); the replicates are ``n_boot`` less any dropped (multi-label, below).

    ``kind`` (:attr:`MedMNISTInfo.task_kind`) is the AUC of the whole task, as
    :func:`helpers.evaluate.metrics.auc_score` defines it. Single-label tasks resample within
    each class; multi-label ones whole images, dropping replicates in which a label loses all
    its positives (as :func:`task_metrics_with_ci` does)."""
    scores_a, scores_b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if kind == "binary":
        y_true = np.asarray(y_true).astype(int).ravel()
        draws = stratified_bootstrap_indices(y_true, n_boot, seed)
        a = scores_a[:, -1] if scores_a.ndim == 2 else scores_a
        b = scores_b[:, -1] if scores_b.ndim == 2 else scores_b
        diffs = auc_rows(y_true[draws], a[draws]) - auc_rows(y_true[draws], b[draws])
        difference = float(roc_auc_score(y_true, a) - roc_auc_score(y_true, b))
    else:
        y = np.asarray(y_true).astype(int)
        if kind == "multi-label":
            draws = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
        else:
            y = y.ravel()
            draws = stratified_bootstrap_indices(y, n_boot, seed)
        # an ordinal task's AUC is the multi-class one (its kappa is not needed here)
        rule = "multi-label" if kind == "multi-label" else "multi-class"
        diffs = np.concatenate(
            [
                _task_replicates(y, scores_a, rule, chunk)["AUC"]
                - _task_replicates(y, scores_b, rule, chunk)["AUC"]
                for chunk in np.array_split(draws, max(1, -(-n_boot // REPLICATE_CHUNK)))
            ]
        )
        diffs = diffs[~np.isnan(diffs)]
        difference = auc_score(y, scores_a, kind) - auc_score(y, scores_b, kind)
    low, high = _interval(diffs, level)
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = 2 * (1 + min(below, above)) / (1 + len(diffs))
    return {"difference": difference, "low": low, "high": high, "p_value": float(min(p, 1.0))}


def operating_points(
    y_val: np.ndarray, scores_val: np.ndarray, target_sensitivity: float = 0.95
) -> dict[str, float]:
    """Decision thresholds chosen on the validation split only: Youden's J, the most
    specific threshold with at least ``target_sensitivity`` (a screening operating point),
    and the naive 0.5. Test labels are not an argument, so they cannot leak in."""
    return {
        "0.5 (default)": 0.5,
        "Youden J (val)": youden_threshold(y_val, scores_val),
        f"sensitivity >= {target_sensitivity:g} (val)": threshold_at_sensitivity(
            y_val, scores_val, target_sensitivity
        ),
    }


def evaluate_operating_points(
    thresholds: dict[str, float],
    y_test: np.ndarray,
    scores_test: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Sensitivity, specificity, PPV and NPV with bootstrap intervals on test at each of
    the (validation-chosen) ``thresholds``, applied unchanged."""
    rows = []
    for name, threshold in thresholds.items():
        shown = ("sensitivity", "specificity", "ppv", "npv")
        table = metrics_with_ci(
            y_test, scores_test, threshold, n_boot=n_boot, seed=seed, metrics=shown
        ).set_index("metric")
        row = {"operating point": name, "threshold": threshold}
        for metric in shown:
            est, low, high = table.loc[metric, ["estimate", "low", "high"]]
            row[metric] = est
            row[f"{metric} CI"] = f"{low:.3f}-{high:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def scores_for_class(
    labels: np.ndarray, scores: np.ndarray, class_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Recast a task as "class ``class_index`` vs the rest": (0/1 labels, that class's
    score). A binary model's single output is the probability of class 1, so class 0's
    score is 1 - output. Lets the *finding* be the positive class (BreastMNIST's class 0
    is "malignant") and gives one-vs-rest views of multi-class tasks; for multi-label labels
    (N, L) it is label ``class_index`` present or not."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    if labels.ndim == 2 and labels.shape[1] > 1:  # multi-label: that label's own column
        return labels[:, class_index], scores[:, class_index]
    labels = labels.ravel()
    if scores.ndim == 1:
        if class_index not in (0, 1):
            raise ValueError(f"a binary model has classes 0 and 1, not {class_index}")
        return (labels == class_index).astype(int), scores if class_index == 1 else 1.0 - scores
    return (labels == class_index).astype(int), scores[:, class_index]
