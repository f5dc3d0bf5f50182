"""tools/run_notebooks.py: the reproduce command's runner, and its run on another dataset
(``make reproduce DATASET=<flag> SIZE=<px>``) into a folder of its own."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from helpers.paths import FIGURES_ENV

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)
NOTEBOOKS = ROOT / "notebooks"


def _parameters(name: str, flag: str, size: int):
    return run_notebooks.dataset_parameters(NOTEBOOKS / name, flag, size)


def test_each_notebook_gets_the_dataset_through_its_own_parameters(tmp_path, monkeypatch):
    # every default dataset on disk at 28 and 64 px (empty stand-ins: only their presence counts)
    for name in ("pneumoniamnist", "breastmnist", "pneumoniamnist_64", "breastmnist_64"):
        (tmp_path / f"{name}.npz").touch()
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    assert _parameters("04_evaluation.ipynb", "breastmnist", 64) == {
        "DATASETS": ["breastmnist"],
        "SIZE": 64,
    }
    assert _parameters("05_explainability.ipynb", "dermamnist", 28) == {
        "REAL_DATASET": "dermamnist",
        "SIZE": 28,
    }
    # the second dataset of a comparison is the other default when it would be the run's own
    assert _parameters("10_generalization.ipynb", "breastmnist", 64) == {
        "DATASET": "breastmnist",
        "OTHER_DATASET": "pneumoniamnist",
        "SIZE": 64,
    }
    assert _parameters("01_data.ipynb", "breastmnist", 64) == {
        "DATASET": "breastmnist",
        "SECOND_DATASET": "pneumoniamnist",
        "IMAGE_SIZE": 64,
    }
    assert _parameters("03_training.ipynb", "breastmnist", 28) == {
        "DATASET": "breastmnist",
        "SECOND_DATASET": "pneumoniamnist",
        "SIZE": 28,
    }


def test_a_comparison_not_on_disk_at_the_runs_size_is_left_out(tmp_path, monkeypatch):
    (tmp_path / "breastmnist_64.npz").touch()
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDIMG_CACHE_DIR", str(tmp_path / "downloads"))  # an empty cache
    assert _parameters("01_data.ipynb", "breastmnist", 64) == {
        "DATASET": "breastmnist",
        "SECOND_DATASET": None,
        "IMAGE_SIZE": 64,
    }
    assert _parameters("03_training.ipynb", "breastmnist", 64) == {
        "DATASET": "breastmnist",
        "SECOND_DATASET": None,
        "SIZE": 64,
    }
    # 10 loads its out-of-scope images at 28 px and cannot do without them: left as it is
    assert _parameters("10_generalization.ipynb", "breastmnist", 64)["OTHER_DATASET"] == (
        "pneumoniamnist"
    )


def test_a_notebook_that_cannot_take_the_request_is_skipped_with_the_reason():
    assert "takes no dataset" in _parameters("06_segmentation_detection.ipynb", "breastmnist", 28)
    assert "no image-size parameter" in _parameters("09_large_models.ipynb", "breastmnist", 64)


def _tiny_notebook(path: Path) -> None:
    """A notebook with DATASET and SIZE parameters that saves one table of them."""
    cells = [
        {
            "id": "parameters",
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": 'DATASET = "pneumoniamnist"\nSIZE = 28\n',
            "outputs": [],
            "execution_count": None,
        },
        {
            "id": "table",
            "cell_type": "code",
            "metadata": {},
            "source": "import pandas as pd\nfrom helpers.plots import save_table\n"
            'save_table(pd.DataFrame({"dataset": [DATASET], "size": [SIZE]}), "99_tiny")\n',
            "outputs": [],
            "execution_count": None,
        },
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.mark.notebook
def test_a_run_on_another_dataset_writes_only_into_its_own_folder(tmp_path, monkeypatch):
    pytest.importorskip("papermill")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.delenv(FIGURES_ENV, raising=False)
    source = tmp_path / "99_tiny.ipynb"
    _tiny_notebook(source)
    before = source.read_text(encoding="utf-8")
    folder = tmp_path / "run"
    status = run_notebooks.run_dataset([source], "breastmnist", 64, folder)
    assert status == 0
    table = (folder / "figures" / "99_tiny.csv").read_text(encoding="utf-8")
    assert "breastmnist,64" in table
    assert (folder / "notebooks" / "99_tiny.ipynb").is_file()
    assert (folder / "run_times.csv").read_text(encoding="utf-8").startswith("notebook,minutes")
    assert source.read_text(encoding="utf-8") == before, "the source notebook is untouched"
    assert FIGURES_ENV not in os.environ, "later notebooks in this process write to figures/ again"
