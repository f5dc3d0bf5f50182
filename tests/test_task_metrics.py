"""The whole task's metrics (helpers.evaluate.metrics.task_metrics, per_class_table) and
their bootstrap intervals (helpers.evaluate.uncertainty.task_metrics_with_ci) for every
MedMNIST task kind: binary, multi-class, ordinal and multi-label."""

import numpy as np
import pytest

from helpers.evaluate import uncertainty as ev
from helpers.evaluate.metrics import auc_score, medmnist_accuracy, per_class_table, task_metrics


def _multiclass(n=240, k=4, seed=0, signal=2.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def _multilabel(n=200, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random((n, k)), 0, 1)
    return y, s


def test_task_metrics_are_the_benchmark_definitions():
    y, p = _multiclass()
    m = task_metrics(y, p, "multi-class")
    assert m == {
        "AUC": auc_score(y, p, "multi-class"),
        "ACC": medmnist_accuracy(y, p, "multi-class"),
    }
    y2 = (y > 1).astype(int)
    m2 = task_metrics(y2, p[:, 2] + p[:, 3], "binary")
    assert set(m2) == {"AUC", "ACC"}


def test_ordinal_metrics_weigh_how_far_off_a_grade_is():
    y = np.repeat(np.arange(5), 20)
    exact = np.eye(5)[y]
    one_off = np.eye(5)[np.clip(y + 1, 0, 4)]
    three_off = np.eye(5)[(y + 3) % 5]
    perfect = task_metrics(y, exact, "ordinal")
    assert perfect["quadratic kappa"] == pytest.approx(1.0) and perfect["grade MAE"] == 0
    near, far = task_metrics(y, one_off, "ordinal"), task_metrics(y, three_off, "ordinal")
    # the same accuracy (none right in `far`, a fifth right in `near`) but the kappa and the
    # mean grade error tell a near miss from a far one
    assert near["grade MAE"] < far["grade MAE"]
    assert near["quadratic kappa"] > 0.5 > far["quadratic kappa"]


def test_per_class_rows_count_what_the_confusion_matrix_counts():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0, 2])
    rows = per_class_table(y, np.eye(3)[predicted], "multi-class", ["a", "b", "c"])
    by_name = {r["class"]: r for r in rows}
    assert [r["n"] for r in rows] == [2, 2, 3]
    assert [r["predicted"] for r in rows] == [2, 3, 2]
    assert by_name["a"]["sensitivity"] == 0.5 and by_name["a"]["precision"] == 0.5
    assert by_name["b"]["sensitivity"] == 1.0 and by_name["b"]["precision"] == pytest.approx(2 / 3)
    assert by_name["c"]["sensitivity"] == pytest.approx(2 / 3) and by_name["c"]["precision"] == 1.0


def test_binary_rows_are_each_others_specificity():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 100)
    s = np.clip(0.4 * y + 0.6 * rng.random(100), 0, 1)
    neg, pos = per_class_table(y, s, "binary", ["no", "yes"], thresholds=0.5)
    decided = s >= 0.5
    assert pos["sensitivity"] == pytest.approx(decided[y == 1].mean())
    assert neg["sensitivity"] == pytest.approx((~decided)[y == 0].mean())
    assert neg["AUC"] == pytest.approx(pos["AUC"]) == pytest.approx(auc_score(y, s))


def test_multi_label_rows_use_each_labels_own_threshold():
    y, s = _multilabel()
    cuts = np.array([0.2, 0.5, 0.9])
    rows = per_class_table(y, s, "multi-label", ["x", "y", "z"], thresholds=cuts)
    for k, row in enumerate(rows):
        predicted = s[:, k] >= cuts[k]
        assert row["predicted"] == predicted.sum() and row["threshold"] == cuts[k]
        assert row["specificity"] == pytest.approx((~predicted)[y[:, k] == 0].mean())


@pytest.mark.parametrize("kind", ["binary", "multi-class", "ordinal", "multi-label"])
def test_intervals_hold_the_estimate_and_do_not_depend_on_chunking(kind, monkeypatch):
    if kind == "multi-label":
        y, s = _multilabel()
    elif kind == "binary":
        y, s = _multiclass(k=2)
        s = s[:, 1]
    else:
        y, s = _multiclass(k=5)
    table = ev.task_metrics_with_ci(y, s, kind, n_boot=60, seed=3).set_index("metric")
    expected = {"AUC", "ACC"} | ({"quadratic kappa", "grade MAE"} if kind == "ordinal" else set())
    assert set(table.index) == expected
    assert (table.low <= table.estimate).all() and (table.estimate <= table.high).all()
    assert (table.low < table.high).all()
    monkeypatch.setattr(ev, "REPLICATE_CHUNK", 7)
    again = ev.task_metrics_with_ci(y, s, kind, n_boot=60, seed=3).set_index("metric")
    np.testing.assert_allclose(again[["low", "high"]], table[["low", "high"]])


def test_a_binary_interval_is_the_one_every_metric_table_gives():
    y, p = _multiclass(k=2, seed=4)
    whole = ev.task_metrics_with_ci(y, p[:, 1], "binary", n_boot=80, seed=5).set_index("metric")
    each = ev.metrics_with_ci(y, p[:, 1], 0.5, n_boot=80, seed=5).set_index("metric")
    np.testing.assert_allclose(
        whole.loc["AUC", ["low", "high"]], each.loc["roc_auc", ["low", "high"]]
    )


def test_multiclass_replicates_match_the_slow_definition():
    y, p = _multiclass(k=3, n=90, seed=6)
    draws = ev.stratified_bootstrap_indices(y, 5, seed=0)
    fast = ev._task_replicates(y, p, "multi-class", draws)
    slow = [auc_score(y[d], p[d], "multi-class") for d in draws]
    np.testing.assert_allclose(fast["AUC"], slow)


def test_one_label_of_a_multi_label_task_as_the_finding():
    y, s = _multilabel()
    labels, scores = ev.scores_for_class(y, s, 2)
    np.testing.assert_array_equal(labels, y[:, 2])
    np.testing.assert_array_equal(scores, s[:, 2])


def test_binary_auc_takes_two_column_scores_as_class_one():
    y, p = _multiclass(k=2, seed=8)
    assert auc_score(y, p, "binary") == pytest.approx(auc_score(y, p[:, 1], "binary"))


def test_a_replicate_that_loses_a_labels_positives_is_dropped_not_averaged_over_fewer():
    y = np.zeros((40, 2), int)
    y[:20, 0] = 1
    y[0, 1] = 1  # one positive: most replicates of 40 images miss it sometimes
    s = np.clip(y * 0.6 + 0.3, 0, 1).astype(float)
    draws = np.random.default_rng(0).integers(0, 40, size=(50, 40))
    auc = ev._task_replicates(y, s, "multi-label", draws)["AUC"]
    lost = ~(y[draws, 1] == 1).any(axis=1)
    assert lost.any() and np.isnan(auc[lost]).all() and not np.isnan(auc[~lost]).any()
