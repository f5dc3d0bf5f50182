"""tools/check_reproduction.py: a re-run agrees with the committed tables within tolerance,
and a broken pipeline does not."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "check_reproduction", ROOT / "tools" / "check_reproduction.py"
)
check_reproduction = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_reproduction)


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": ["pneumoniamnist", "breastmnist"],
            "images": [624, 156],
            "test AUC": [0.952, 0.906],
            "test AUC 95% CI": ["0.934-0.970", "0.848-0.954"],
            "latency median (ms)": [0.1, 0.2],
            "DeLong p": [0.0001, 0.5],
        }
    )


def test_noise_of_another_machine_passes():
    new = _table()
    new["test AUC"] += [0.01, -0.03]
    new["test AUC 95% CI"] = ["0.930-0.972", "0.830-0.950"]
    new["latency median (ms)"] *= 5  # timings are not compared
    new["DeLong p"] = [0.01, 0.9]  # nor p-values
    assert check_reproduction.compare_tables("03_results", _table(), new) == []


@pytest.mark.parametrize(
    "column, values, expected",
    [
        ("test AUC", [0.5, 0.906], "row 1, 'test AUC': 0.5"),
        ("images", [623, 156], "must be equal"),
        ("test AUC 95% CI", ["0.5-0.6", "0.848-0.954"], "'0.5-0.6'"),
        ("dataset", ["pneumoniamnist", "dermamnist"], "must be equal"),
    ],
)
def test_a_broken_pipeline_fails(column, values, expected):
    new = _table()
    new[column] = values
    problems = check_reproduction.compare_tables("03_results", _table(), new)
    assert len(problems) == 1 and expected in problems[0], problems


def test_shape_changes_fail():
    new = _table().iloc[:1]
    assert "1 rows, committed 2" in check_reproduction.compare_tables("x", _table(), new)[0]
    renamed = _table().rename(columns={"test AUC": "AUC"})
    assert "columns" in check_reproduction.compare_tables("x", _table(), renamed)[0]


def test_notebook_05_has_its_wider_tolerance():
    assert check_reproduction.tolerance("05_localisation", 0.5) == 0.15
    assert check_reproduction.tolerance("03_results", 0.5) == 0.08
    assert check_reproduction.tolerance("07_area", 13.6) == pytest.approx(3.4)


def test_the_committed_tables_reproduce_themselves(tmp_path):
    """Against HEAD, a copy of the committed figures/ tables passes (every committed table
    is readable and compared)."""
    folder = tmp_path / "figures"
    folder.mkdir()
    for name in ("01_class_balance", "04_metrics", "06_segmentation"):
        if check_reproduction.committed(name, "HEAD") is None:
            pytest.skip("not a git checkout with committed figures")
        check_reproduction.committed(name, "HEAD").to_csv(folder / f"{name}.csv", index=False)
    problems, new_tables = check_reproduction.check("HEAD", folder)
    assert problems == [] and new_tables == []
    shutil.copy(folder / "04_metrics.csv", folder / "99_new.csv")
    assert check_reproduction.check("HEAD", folder)[1] == ["99_new"]
