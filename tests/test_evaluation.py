"""Metrics against scikit-learn and hand counts, bootstrap coverage, DeLong, calibration,
validation-only thresholds and cross-validation (04_evaluation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from helpers.evaluate import calibration
from helpers.evaluate import uncertainty as evaluation
from helpers.evaluate.metrics import (
    classification_metrics,
    threshold_at_sensitivity,
    youden_threshold,
)


def _binormal(
    n_pos: int, n_neg: int, separation: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores N(separation, 1) for positives, N(0, 1) for negatives: true AUC = Phi(d / sqrt 2)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return y, np.r_[rng.normal(separation, 1, n_pos), rng.normal(0, 1, n_neg)]


def test_binary_metrics_equal_scikit_learn_and_hand_counts():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.2, 0.1, 0.1, 0.05, 0.6])
    m = classification_metrics(y, s, threshold=0.5)
    # By hand: tp 2 (0.9, 0.8), fn 2, fp 2 (0.7, 0.6), tn 4.
    assert m["sensitivity"] == 0.5 and m["specificity"] == 4 / 6
    assert m["ppv"] == 0.5 and m["npv"] == 4 / 6 and m["accuracy"] == 0.6
    y2, s2 = _binormal(80, 150, 1.2, seed=3)
    m = classification_metrics(y2, s2, threshold=0.4)
    p = (s2 >= 0.4).astype(int)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y2, p))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y2, p))
    assert m["specificity"] == pytest.approx(skm.recall_score(y2, p, pos_label=0))
    assert m["ppv"] == pytest.approx(skm.precision_score(y2, p))
    assert m["npv"] == pytest.approx(skm.precision_score(y2, p, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y2, p))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y2, p))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y2, s2))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y2, s2))
    with pytest.raises(ValueError, match="threshold"):
        classification_metrics(y2, s2)


def test_multiclass_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))
    assert m["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    table = evaluation.metrics_with_ci(y, p, n_boot=50)
    assert set(table.metric) == set(m) and (table.low <= table.estimate + 1e-12).all()


def test_threshold_at_sensitivity_is_the_most_specific_that_reaches_the_target():
    y, s = _binormal(100, 200, 1.5, seed=1)
    t = threshold_at_sensitivity(y, s, 0.95)
    assert (s[y == 1] >= t).mean() >= 0.95
    higher = np.sort(np.unique(s[s > t]))[0]
    assert (s[y == 1] >= higher).mean() < 0.95


def test_bootstrap_interval_covers_the_true_auc_about_95_percent_of_the_time():
    separation = 1.0
    true_auc = stats.norm.cdf(separation / np.sqrt(2))
    covered = []
    for draw in range(100):
        y, s = _binormal(60, 90, separation, seed=100 + draw)
        row = evaluation.metrics_with_ci(
            y, s, 0.5, n_boot=200, seed=draw, metrics=("roc_auc",)
        ).iloc[0]
        covered.append(row.low <= true_auc <= row.high)
    # 100 seeded draws: the coverage's sampling sd is ~0.022; percentile intervals run narrow.
    assert 0.87 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_bootstrap_is_stratified_and_seeded():
    y = np.r_[np.ones(7, int), np.zeros(20, int)]
    idx = evaluation.stratified_bootstrap_indices(y, n_boot=30, seed=4)
    assert (y[idx].sum(axis=1) == 7).all()
    assert np.array_equal(idx, evaluation.stratified_bootstrap_indices(y, n_boot=30, seed=4))


def test_delong_matches_scikit_learn_auc_and_the_paired_bootstrap():
    y, a = _binormal(120, 200, 1.4, seed=5)
    rng = np.random.default_rng(6)
    b = a + rng.normal(0, 1.0, len(a))  # correlated, weaker
    result = evaluation.delong_test(y, a, b)
    assert result["auc_a"] == pytest.approx(skm.roc_auc_score(y, a))
    assert result["auc_b"] == pytest.approx(skm.roc_auc_score(y, b))
    boot = evaluation.paired_bootstrap_auc(y, a, b, n_boot=1000)
    assert boot["difference"] == pytest.approx(result["difference"])
    assert (boot["high"] - boot["low"]) / 3.92 == pytest.approx(result["se"], rel=0.25)
    clear = evaluation.paired_bootstrap_auc(y, a, -a, n_boot=99)
    assert clear["p_value"] == pytest.approx(2 / 100), "never 0: (1 + count) / (1 + B), twice"
    same = evaluation.delong_test(y, a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    # Ties count half, as in the Mann-Whitney statistic.
    tied = np.round(a)
    assert evaluation.delong_test(y, tied, a)["auc_a"] == pytest.approx(skm.roc_auc_score(y, tied))


def test_delong_p_value_is_uniform_under_the_null():
    p_values = []
    for draw in range(200):
        y, a = _binormal(40, 60, 1.0, seed=1000 + draw)
        rng = np.random.default_rng(draw)
        shared = rng.normal(size=len(y))
        p_values.append(
            evaluation.delong_test(y, a + shared, a + rng.permutation(shared))["p_value"]
        )
    assert 0.01 <= np.mean(np.array(p_values) < 0.05) <= 0.10


def test_roc_and_pr_bands_contain_the_curves():
    y, s = _binormal(50, 80, 1.0, seed=2)
    roc = evaluation.roc_with_band(y, s, n_boot=100)
    pr = evaluation.pr_with_band(y, s, n_boot=100)
    for table, value in ((roc, "tpr"), (pr, "precision")):
        assert (
            (table.low <= table[value] + 1e-9) & (table[value] <= table.high + 1e-9)
        ).mean() > 0.95
    assert roc.tpr.iloc[0] >= 0 and roc.tpr.iloc[-1] == 1.0
    # The curves summarise to (about) their areas, and precision falls as recall rises.
    assert np.trapezoid(roc.tpr, roc.fpr) == pytest.approx(skm.roc_auc_score(y, s), abs=0.01)
    assert pr.precision.mean() == pytest.approx(skm.average_precision_score(y, s), abs=0.05)
    assert pr.precision.is_monotonic_decreasing and pr.precision.iloc[-1] < 0.6


def test_calibration_ece_brier_and_temperature():
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.uniform(size=true_p.size) < true_p).astype(int)
    assert calibration.expected_calibration_error(y, true_p) < 0.02
    assert calibration.brier_score(y, true_p) == pytest.approx(skm.brier_score_loss(y, true_p))
    logits = np.log(true_p / (1 - true_p))
    overconfident = 1 / (1 + np.exp(-3 * logits))
    assert calibration.expected_calibration_error(y, overconfident) > 0.1
    t = calibration.fit_temperature(y, overconfident)
    assert t == pytest.approx(3.0, rel=0.1)
    rescaled = calibration.apply_temperature(overconfident, t)
    assert calibration.expected_calibration_error(y, rescaled) < 0.02
    assert skm.roc_auc_score(y, rescaled) == pytest.approx(skm.roc_auc_score(y, overconfident))
    table = calibration.reliability_table(y, true_p, n_bins=10)
    assert table["count"].sum() == len(y) and len(table) == 10
    # Multi-class: softmax of scaled logits recovers its temperature too.
    k_logits = rng.normal(size=(5000, 3)) * 2
    k_true = np.exp(k_logits) / np.exp(k_logits).sum(1, keepdims=True)
    k_y = np.array([rng.choice(3, p=p) for p in k_true])
    sharp = calibration.apply_temperature(k_true, 0.5)
    assert calibration.fit_temperature(k_y, sharp) == pytest.approx(
        2.0, rel=0.1
    )  # undoes the sharpening
    assert calibration.brier_score(k_y, k_true) < calibration.brier_score(k_y, sharp)


def test_platt_scaling_removes_an_offset_that_a_temperature_cannot():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.uniform(size=true_p.size) < true_p).astype(int)
    shifted = calibration.apply_platt(true_p, 1.0, 1.5)  # logit + 1.5: a pure offset
    a, b = calibration.fit_platt(y, shifted)
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(-1.5, abs=0.1)
    platt = calibration.apply_platt(shifted, a, b)
    tempered = calibration.apply_temperature(shifted, calibration.fit_temperature(y, shifted))
    assert calibration.expected_calibration_error(y, platt) < 0.02
    assert calibration.expected_calibration_error(y, tempered) > 0.05  # no offset term
    assert skm.roc_auc_score(y, platt) == pytest.approx(skm.roc_auc_score(y, shifted))
    # The paired ECE interval: its estimate is the plain ECE difference, and it excludes 0
    # for this large improvement but not for a model compared with itself.
    change = calibration.paired_bootstrap_ece(y, platt, shifted, n_boot=300, seed=0)
    assert change["difference"] == pytest.approx(
        calibration.expected_calibration_error(y, platt)
        - calibration.expected_calibration_error(y, shifted)
    )
    assert change["low"] <= change["difference"] <= change["high"] < 0
    same = calibration.paired_bootstrap_ece(y, shifted, shifted, n_boot=50)
    assert same["low"] == same["high"] == same["difference"] == 0
    # Multi-class top-label ECE goes through the same vectorised path.
    k_p = rng.dirichlet(np.ones(3), size=400)
    k_y = np.array([rng.choice(3, p=p) for p in k_p])
    multi = calibration.paired_bootstrap_ece(k_y, k_p, np.full_like(k_p, 1 / 3), n_boot=20)
    assert multi["difference"] == pytest.approx(
        calibration.expected_calibration_error(k_y, k_p)
        - calibration.expected_calibration_error(k_y, np.full_like(k_p, 1 / 3))
    )
    assert calibration.share_near_certain(np.array([0.05, 0.5, 0.95, 0.91, 0.2])) == 0.6


def test_operating_points_never_see_test_labels():
    y_val, s_val = _binormal(60, 100, 1.5, seed=7)
    y_test, s_test = _binormal(60, 100, 1.5, seed=8)
    points = evaluation.operating_points(y_val, s_val, 0.9)
    assert points["Youden J (val)"] == youden_threshold(y_val, s_val)
    table = evaluation.evaluate_operating_points(points, y_test, s_test, n_boot=50)
    shuffled = evaluation.evaluate_operating_points(
        points, np.random.default_rng(0).permutation(y_test), s_test, n_boot=50
    )
    assert np.array_equal(table.threshold, shuffled.threshold)  # thresholds fixed by validation
    assert not np.allclose(
        table.sensitivity, shuffled.sensitivity
    )  # test metrics do use test labels
    assert (
        table.threshold
        != evaluation.evaluate_operating_points(
            evaluation.operating_points(y_test, s_test, 0.9), y_test, s_test, n_boot=50
        ).threshold
    ).any()


def test_cross_validation_folds_are_disjoint_and_stratified(phantom_data):
    from helpers.train.config import TrainConfig
    from helpers.train.crossval import cross_validate

    config = TrainConfig(
        model="compact_cnn",
        dataset="phantoms",
        epochs=2,
        batch_size=32,
        augment=0.0,
        model_options={"width": 4},
        patience=None,
    )
    table = cross_validate(config, phantom_data, k=3, seed=0)
    pool = len(phantom_data.labels["train"]) + len(phantom_data.labels["val"])
    assert table.n_held_out.sum() == pool and len(table) == 3
    assert ((table.n_train + table.n_inner_val + table.n_held_out) == pool).all()
    assert table.held_out_auc.between(0, 1).all()
    with pytest.raises(ValueError, match="k must"):
        cross_validate(config, phantom_data, k=1)


def test_scores_for_class_makes_the_finding_positive():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    y0, s0 = evaluation.scores_for_class(y, s, 0)
    assert y0.tolist() == [1, 1, 0, 0] and np.allclose(s0, 1 - s)
    assert skm.roc_auc_score(y0, s0) == pytest.approx(skm.roc_auc_score(y, s))
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    y2, s2 = evaluation.scores_for_class(np.array([0, 2]), p, 2)
    assert y2.tolist() == [0, 1] and s2.tolist() == [0.1, 0.1]
    with pytest.raises(ValueError, match="classes 0 and 1"):
        evaluation.scores_for_class(y, s, 2)


def test_paired_bootstrap_auc_scores_the_whole_task():
    """Multi-class and multi-label: the difference of the task's AUC (auc_score), an
    interval around it, and a clear verdict when one model is much worse."""
    from helpers.evaluate.metrics import auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 200)
    good = np.eye(4)[y] * 2.0 + rng.normal(0, 1, (200, 4))
    poor = np.eye(4)[y] * 0.3 + rng.normal(0, 1, (200, 4))
    result = evaluation.paired_bootstrap_auc(y, good, poor, kind="multi-class", n_boot=300)
    expected = auc_score(y, good, "multi-class") - auc_score(y, poor, "multi-class")
    assert result["difference"] == pytest.approx(expected)
    assert 0 < result["low"] < result["difference"] < result["high"]
    assert result["p_value"] == pytest.approx(2 / 301)
    ordinal = evaluation.paired_bootstrap_auc(y, good, poor, kind="ordinal", n_boot=300)
    assert ordinal == result, "an ordinal task's AUC is the multi-class one"
    same = evaluation.paired_bootstrap_auc(y, good, good, kind="multi-class", n_boot=50)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    labels = (rng.random((200, 3)) < 0.3).astype(int)
    strong = labels * 2.0 + rng.normal(0, 1, (200, 3))
    weak = labels * 0.2 + rng.normal(0, 1, (200, 3))
    multi = evaluation.paired_bootstrap_auc(labels, strong, weak, kind="multi-label", n_boot=200)
    assert multi["difference"] == pytest.approx(
        auc_score(labels, strong, "multi-label") - auc_score(labels, weak, "multi-label")
    )
    assert multi["low"] > 0


def test_published_rows_carry_their_input_size():
    # 04 says so when no published row was measured at the run's size: every row needs one.
    from helpers.evaluate.published import published

    rows = published(["breastmnist"])
    assert list(rows.columns) == ["dataset", "model", "px", "test AUC", "test ACC", "source"]
    assert set(rows["dataset"]) == {"breastmnist"}
    assert set(rows["px"]) == {28, 128}
    assert published(["no-such-flag"]).empty
