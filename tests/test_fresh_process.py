"""helpers.fresh_process (a function run in a fresh process) and the isolated scaling grid of
09_large_models: same rows as in-process, errors named, and no TensorFlow in the caller."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from conftest import REAL_DATA
from helpers import fresh_process


def test_call_returns_the_result_and_passes_output_on(capsys):
    assert fresh_process.call("json:loads", s="[1, 2.5, null]") == [1, 2.5, None]
    assert fresh_process.call("numpy:eye", N=2) == [
        [1.0, 0.0],
        [0.0, 1.0],
    ]  # NumPy arrays come back as lists
    fresh_process.call("builtins:print", sep="", end="hello from the child\n")
    assert "hello from the child" in capsys.readouterr().out


def test_the_child_gets_the_malloc_settings_unless_the_caller_sets_them(monkeypatch):
    for name in fresh_process.MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    assert {
        name: fresh_process.call("os:getenv", key=name) for name in fresh_process.MALLOC_ENV
    } == fresh_process.MALLOC_ENV
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert fresh_process.call("os:getenv", key="MALLOC_ARENA_MAX") == "4"


def test_call_names_the_function_and_the_error():
    with pytest.raises(ValueError, match="package.module:function"):
        fresh_process.call("json.loads")
    with pytest.raises(
        RuntimeError, match=r"(?s)helpers\.data\.medmnist:load_medmnist failed.*no-such-set"
    ):
        fresh_process.call("helpers.data.medmnist:load_medmnist", flag="no-such-set")
    with pytest.raises(RuntimeError, match="has no function 'nothing'"):
        fresh_process.call("json:nothing")


def test_planning_a_grid_does_not_import_tensorflow():
    code = (
        "import sys; from helpers import fresh_process; "
        "from helpers.train import recipes, scaling; "
        "from helpers.train.config import TrainConfig; "
        "recipes.recipe('improved', 'pneumoniamnist').key(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
        "'TensorFlow was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(REAL_DATA is None, reason="no offline MedMNIST copies found")
def test_isolated_grid_gives_the_in_process_rows(tmp_path, monkeypatch):
    from helpers.train import recipes, scaling

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(REAL_DATA))
    base = dataclasses.replace(
        recipes.recipe("improved", "pneumoniamnist"),
        epochs=1,
        augment=0.0,
        patience=None,
        train_fraction=0.03,
        model_options={"width": 2},
    )
    variants = [{"model_options": {"width": 2}}, {"model_options": {"width": 4}}]
    with pytest.raises(ValueError, match="data=None"):
        scaling.scaling_grid(
            base, scaling.load_medmnist("pneumoniamnist"), variants=variants, isolate=True
        )
    monkeypatch.setattr(scaling, "RUNS_PER_PROCESS", 1)  # one process per run: rows joined
    away = scaling.scaling_grid(base, variants=variants, isolate=True, threads=2)
    assert sorted(
        (tmp_path / ".cache" / "models").iterdir()
    )  # the child filled the shared model cache
    # trained in the child, loaded from its cache here: the same model gives the same test AUC
    here = scaling.scaling_grid(base, variants=variants)
    assert away.width.tolist() == [2, 4] and away.params.iloc[1] > away.params.iloc[0]
    assert away.test_auc.tolist() == here.test_auc.tolist()
    assert away.drop(columns="train_seconds").equals(here.drop(columns="train_seconds"))


def test_call_in_batches_runs_each_batch_in_its_own_process(tmp_path, monkeypatch):
    """Batches of at most per_process configs, a fresh process each, results joined in order."""
    (tmp_path / "echo_batch.py").write_text(
        "import os\n\n\ndef run(configs, tag):\n"
        "    return [[os.getpid(), tag, c] for c in configs]\n\n\n"
        "def as_dict(configs):\n"
        "    return {'n': len(configs)}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    rows = fresh_process.call_in_batches("echo_batch:run", list(range(5)), per_process=2, tag="t")
    assert [c for _, _, c in rows] == [0, 1, 2, 3, 4]
    assert all(tag == "t" for _, tag, _ in rows)
    pids = [pid for pid, _, _ in rows]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert len(set(pids)) == 3
    with pytest.raises(ValueError, match="per_process"):
        fresh_process.call_in_batches("echo_batch:run", [1], per_process=0, tag="t")
    with pytest.raises(TypeError, match="not a list"):
        fresh_process.call_in_batches("echo_batch:as_dict", [1], per_process=1)
