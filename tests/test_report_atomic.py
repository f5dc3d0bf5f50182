"""The leaves: result sentences (helpers.report) and atomic writes (helpers.atomic)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from helpers import atomic, report


def test_numbers_are_formatted_one_way():
    assert report.num(0.98123) == "0.981" and report.num(float("nan")) == "n/a"
    assert report.ci(0.981, 0.970, 0.990) == "0.981 (95 % CI 0.970–0.990)"
    assert report.ci(-2.1, -3.0, -1.2, 1) == "-2.1 (95 % CI -3.0 to -1.2)"
    assert report.pm(0.957, 0.0021) == "0.957 ± 0.002"
    assert report.pct(0.921) == "92.1 %"
    assert report.num(-0.00001, 4) == "0.0000" and report.num(0) == "0.000"


def test_a_signed_difference_carries_no_sign_its_digits_cannot_back():
    assert report.signed(0.0031, 4) == "+0.0031" and report.signed(-0.003, 4) == "-0.0030"
    assert report.signed(-0.00001, 4) == "0.0000" and report.signed(0.00001, 4) == "0.0000"
    assert report.signed(float("nan")) == "n/a"  # a difference that could not be computed


def test_a_count_agrees_with_its_noun():
    assert report.count(1, "lesion") == "1 lesion"
    assert report.count(3, "lesion") == "3 lesions"
    assert report.count(0, "lesion", sign=True) == "0 lesions"
    assert report.count(1, "lesion", sign=True) == "+1 lesion"
    assert report.count(-2, "image", sign=True) == "-2 images"
    assert report.count(2, "child", "children") == "2 children"


def test_compare_claims_a_winner_only_when_the_interval_excludes_zero():
    assert "scores higher than B" in report.compare("A", "B", 0.03, 0.01, 0.05)
    assert "scores lower than B" in report.compare("A", "B", -0.03, -0.05, -0.01)
    tied = report.compare("A", "B", 0.02, -0.01, 0.05)
    assert "cannot be told apart on this test set" in tied and "higher" not in tied
    on_validation = report.compare("A", "B", 0.02, -0.01, 0.05, split="validation")
    assert "on this validation set" in on_validation
    error = report.compare("A", "B", 2.2, 1.0, 3.0, what="MAE (px)", lower_is_better=True)
    assert error.startswith("A has a higher (worse) MAE (px) than B")
    better = report.compare("A", "B", -2.2, -3.0, -1.0, what="MAE", lower_is_better=True)
    assert better.startswith("A has a lower (better) MAE than B")


def test_say_prints_outside_a_notebook(capsys):
    report.say("**bold** result")
    assert capsys.readouterr().out == "**bold** result\n"


def test_atomic_write_is_complete_or_absent(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    atomic.write_text(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & 0o044, "readable by others, not the 0600 of a bare temporary file"
    with pytest.raises(RuntimeError), atomic.staged_file(target) as staging:
        staging.write_text("half")
        raise RuntimeError("killed mid-way")
    assert target.read_text() == "a,b\n1,2\n", "the old file survives a failed write"
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"], "no temporary left"


def test_atomic_folder_replaces_the_old_one(tmp_path):
    folder = tmp_path / "entry"
    with atomic.staged_folder(folder) as staging:
        (staging / "a.txt").write_text("1")
    with pytest.raises(ValueError), atomic.staged_folder(folder) as staging:
        (staging / "b.txt").write_text("2")
        raise ValueError("failed")
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]
    with atomic.staged_folder(folder) as staging:
        (staging / "c.txt").write_text("3")
    assert sorted(p.name for p in folder.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_one_auc_for_every_task_kind_and_for_bootstrap_rows():
    from sklearn.metrics import roc_auc_score

    from helpers.evaluate.metrics import auc_rows, auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y + rng.normal(size=200)
    assert auc_score(y, s) == pytest.approx(roc_auc_score(y, s))
    multi = rng.integers(0, 3, 200)
    scores = np.eye(3)[multi] + rng.normal(size=(200, 3))
    expected = np.mean([roc_auc_score(multi == k, scores[:, k]) for k in range(3)])
    assert auc_score(multi, scores, "multi-class") == pytest.approx(expected)
    assert auc_score(multi, scores, "ordinal") == auc_score(multi, scores, "multi-class")
    labels = rng.integers(0, 2, (200, 4))
    assert auc_score(labels, labels + rng.normal(size=(200, 4)), "multi-label") > 0.6
    with pytest.raises(ValueError, match="kind"):
        auc_score(y, s, "ordinal regression")
    rows_y, rows_s = rng.integers(0, 2, (30, 50)), np.round(rng.normal(size=(30, 50)), 1)
    by_rows = auc_rows(rows_y, rows_s)
    one_by_one = [roc_auc_score(a, b) for a, b in zip(rows_y, rows_s)]
    np.testing.assert_allclose(by_rows, one_by_one, atol=1e-12)  # ties counted half, as sklearn


def test_ci_table_has_estimate_and_interval_per_score():
    from helpers.evaluate.uncertainty import bootstrap_ci, ci_table

    values = {"A": {"hit": np.array([1.0, 0.0, 1.0, 1.0])}, "B": {"hit": np.zeros(4)}}
    table = ci_table(values, n_boot=200, seed=3).set_index("method")
    assert list(table.columns) == ["hit", "hit low", "hit high"]
    assert tuple(table.loc["A"]) == bootstrap_ci(values["A"]["hit"], n_boot=200, seed=3)
    assert tuple(table.loc["B"]) == (0.0, 0.0, 0.0)
