"""Every training notebook (03-09), run top to bottom in a fresh kernel with small parameters.

``make reproduce`` runs the notebooks on their default parameters (tens of minutes, the
committed outputs); nbval re-runs the cheap notebooks 00-02 as stored (``make test``). For
03-09 a default run trains for minutes per model, so here papermill injects the small
parameters of :data:`SMOKE` instead: the same cells, the same code paths, a few epochs on
small grids. Each run writes into a temporary repository root (``MEDIMG_ROOT``), so
``figures/`` and the model cache of the checkout are left alone, and must

- finish without an error (papermill raises on the first failing cell),
- write nothing to stderr (stored outputs carry none either),
- reproduce the stored output of every cell marked ``# NBVAL_CHECK_OUTPUT`` (those cells
  do not depend on how long a model trained), and
- save every figure and table that the committed run saved (``figures/NN_*``), and
- run the code of every exercise answer (the ```` ```python ```` blocks inside the
  ``<details>`` answers of the Exercises section), appended after the notebook's last cell,
  so an answer that no longer runs fails here. Notebooks 00-02 get the same answer check
  (:func:`test_cheap_notebook_answers_run`).

Run alone with ``make smoke``; ``make test`` includes it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import REAL_DATA
from helpers.runtime import is_tf_banner

# The user's download cache, captured before the autouse fixture points it at an empty folder:
# the notebooks read the real data, as they do in `make reproduce` (or download it once).
USER_DOWNLOAD_CACHE = os.environ.get("MEDIMG_CACHE_DIR")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FIGURES = ROOT / "figures"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

#: Small parameters per notebook: each run takes a minute or two on two CPU cores.
SMOKE: dict[str, dict] = {
    "03_training.ipynb": {"RECIPE_EPOCHS": 2, "SEEDS": [0, 1], "ARTICLE_STEPS": 2},
    "04_evaluation.ipynb": {"RECIPE_EPOCHS": 2, "N_BOOT": 50, "CV_FOLDS": 2},
    "05_explainability.ipynb": {
        "RECIPE_EPOCHS": 2,
        "PHANTOM": {"n_train": 300, "n_val": 100, "n_test": 100, "epochs": 3},
        "N_LOCALISE": 6,
        "N_FAITHFUL": 4,
        "N_SANITY": 3,
        "LIME_SAMPLES": 40,
        "SHAP_SAMPLES": 4,
        "SHAP_BACKGROUND": 8,
        "IG_STEPS": 8,
        "DELETION_STEPS": 4,
        "N_BOOT": 50,
    },
    "06_segmentation_detection.ipynb": {
        "N_TRAIN": 120,
        "N_VAL": 40,
        "N_TEST": 40,
        "EPOCHS": 2,
        "N_TUNE": 40,
    },
    "07_progression.ipynb": {"N_TRAIN": 60, "N_VAL": 30, "N_TEST": 40, "EPOCHS": 3},
    "08_deployment.ipynb": {"RECIPE_EPOCHS": 2, "REPEATS": 20, "N_REPRESENTATIVE": 20},
    "10_generalization.ipynb": {
        "RECIPE_EPOCHS": 2,
        "N_BOOT": 50,
        "TTA_VIEWS": 2,
        "CHEAP_EPOCHS": 1,
        "NOISE_RATES": [0.0, 0.2],
        "OOF_FOLDS": 2,
    },
    "09_large_models.ipynb": {
        "RECIPE_EPOCHS": 2,
        "GRID_CHANGES": {
            "widths": [2, 8],
            "seeds": [0, 1],
            "epochs": 1,
            "fractions": [0.1, 1.0],
            "min_steps": 10,
            "augment_seeds": [0, 1],
            "vae_epochs": 2,
            "vae_samples": 50,
            "gan_steps": 20,
            "fd_repeats": 2,
            "transfer_epochs": 1,
            "transfer_fraction": 0.05,
        },
    },
}


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _text(outputs: list[dict]) -> list[str]:
    """The comparable text of a cell's outputs: streams and plain-text results."""
    texts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            texts.append("".join(out["text"]))
        elif "data" in out and "text/plain" in out["data"]:
            texts.append("".join(out["data"]["text/plain"]))
    return texts


#: An exercise's answer: a collapsed block after the exercise, in the Exercises section.
ANSWER = re.compile(r"<details>(.*?)</details>", re.S)
ANSWER_CODE = re.compile(r"```python\n(.*?)```", re.S)


def answer_code(nb: dict) -> list[str]:
    """The code blocks of the notebook's exercise answers, in reading order."""
    blocks = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for answer in ANSWER.findall(_source(cell)):
                blocks += ANSWER_CODE.findall(answer)
    return blocks


def with_answers(source: Path, target: Path) -> Path:
    """A copy of the notebook with its answers' code appended as cells (tagged ``answer``)."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    for number, code in enumerate(answer_code(nb), start=1):
        nb["cells"].append(
            {
                "id": f"answer-{number}",
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": ["answer"]},
                "outputs": [],
                "source": code,
            }
        )
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def _saved_names(notebook: str, folder: Path) -> set[str]:
    prefix = notebook.split("_")[0] + "_"
    return {p.name for p in folder.glob(prefix + "*") if p.suffix in {".png", ".csv", ".md"}}


def test_every_training_notebook_has_smoke_parameters():
    """A new notebook gets small parameters here (or is cheap enough for nbval)."""
    present = {p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    cheap = {name for name in present if name[:2] in {"00", "01", "02"}}
    assert present - cheap == set(SMOKE), "SMOKE must list exactly the notebooks 03 onwards"


def test_smoke_parameters_exist_in_parameters_cells():
    """Every injected name is a parameter of its notebook (a typo would be silently ignored)."""
    for name, params in SMOKE.items():
        nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*=", _source(cell), flags=re.M))
        assert set(params) <= defined, f"{name}: not parameters: {set(params) - defined}"


def _isolate(tmp_path: Path, monkeypatch) -> Path:
    """A temporary repository root for one notebook run, on the real data."""
    root = tmp_path / "root"
    (root / "figures").mkdir(parents=True)
    monkeypatch.setenv("MEDIMG_ROOT", str(root))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    if REAL_DATA is not None:
        monkeypatch.setenv("MEDMNIST_DATA_DIR", str(REAL_DATA))
    if USER_DOWNLOAD_CACHE:
        monkeypatch.setenv("MEDIMG_CACHE_DIR", USER_DOWNLOAD_CACHE)
    else:
        monkeypatch.delenv("MEDIMG_CACHE_DIR", raising=False)
    return root


def _stderr(nb: dict) -> list[str]:
    return [
        f"cell {i}: {''.join(out['text'])[:300]}"
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        and out.get("name") == "stderr"
        and not is_tf_banner(out)  # TensorFlow's import banner, printed on some CPUs
    ]


def test_answer_code_is_found(tmp_path):
    """The extraction the answer check rests on (it must not silently find nothing)."""
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "## Exercises\n\n**1.** Q?\n\n<details><summary>Answer</summary>\n\n"
                "Because.\n\n```python\nx = 1\n```\n\n</details>\n\n```python\nnot_an_answer\n```",
            }
        ]
    }
    assert answer_code(nb) == ["x = 1\n"]
    source = tmp_path / "a.ipynb"
    source.write_text(json.dumps(nb), encoding="utf-8")
    appended = json.loads(with_answers(source, tmp_path / "b.ipynb").read_text(encoding="utf-8"))
    assert appended["cells"][-1]["source"] == "x = 1\n"
    assert appended["cells"][-1]["metadata"]["tags"] == ["answer"]


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", ["00_index.ipynb", "01_data.ipynb", "02_cnn_math.ipynb"])
def test_cheap_notebook_answers_run(notebook, tmp_path, monkeypatch):
    """00-02 run as stored under nbval; here they run once more with their answers' code."""
    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    source = with_answers(NOTEBOOKS / notebook, tmp_path / f"answers_{notebook}")
    target = tmp_path / notebook
    papermill.execute_notebook(
        str(source), str(target), cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3"
    )
    assert (root / "figures").is_dir()
    stderr = _stderr(json.loads(target.read_text(encoding="utf-8")))
    assert not stderr, f"{notebook} (with answers) wrote to stderr:\n" + "\n".join(stderr)


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", sorted(SMOKE))
def test_notebook_runs_with_small_parameters(notebook, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    source = NOTEBOOKS / notebook
    runnable = with_answers(source, tmp_path / f"answers_{notebook}")
    target = tmp_path / notebook
    papermill.execute_notebook(
        str(runnable),
        str(target),
        parameters=SMOKE[notebook],
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        kernel_name="python3",
    )
    ran = json.loads(target.read_text(encoding="utf-8"))
    stored = json.loads(source.read_text(encoding="utf-8"))

    stderr = _stderr(ran)
    assert not stderr, f"{notebook} wrote to stderr:\n" + "\n".join(stderr)

    ran_by_source = {_source(c): c for c in ran["cells"] if c["cell_type"] == "code"}
    for cell in stored["cells"]:
        if cell["cell_type"] == "code" and CHECK_MARK in _source(cell):
            again = ran_by_source[_source(cell)]
            assert _text(again["outputs"]) == _text(cell["outputs"]), (
                f"{notebook}: a checked cell's output changed:\n{_source(cell)[:200]}"
            )

    missing = _saved_names(notebook, FIGURES) - _saved_names(notebook, root / "figures")
    assert not missing, f"{notebook} no longer saves {sorted(missing)}"


def _execute(papermill, notebook: str, target: Path, parameters: dict) -> None:
    """Run ``notebook`` by papermill into ``target`` with ``parameters``, from notebooks/,
    and check that it wrote nothing to stderr."""
    papermill.execute_notebook(
        str(NOTEBOOKS / notebook),
        str(target),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        kernel_name="python3",
    )
    stderr = _stderr(json.loads(target.read_text(encoding="utf-8")))
    assert not stderr, f"{notebook} ({parameters}) wrote to stderr:\n" + "\n".join(stderr)


#: Generated datasets of each task kind beyond binary (helpers.data.synthetic), gray and colour:
#: (name, task, classes or labels, channels). A bright marker makes them easy to learn in a
#: few epochs, so a model that learnt nothing shows as an AUC near chance.
TASK_KINDS = [
    ("gen_multiclass", "multi-class", 4, 1),
    ("gen_ordinal", "ordinal-regression", 5, 1),
    ("gen_multilabel", "multi-label, binary-class", 4, 3),
]
#: Split sizes and small parameters of 04 on those datasets (every dataset in one kernel):
#: about 110 training steps per model, enough for batch normalisation's running statistics
#: to settle (with a few dozen, the arg-max class of a fresh compact CNN is one class for all).
ANY_TASK_SIZES = {"train": 600, "val": 150, "test": 150}


def _write_generated(folder: Path, name: str, task: str, n_classes: int, channels: int) -> None:
    """A generated dataset of ``task`` (helpers.data.synthetic) at ANY_TASK_SIZES, with the
    bright marker that makes it learnable in a few epochs."""
    from helpers.data.synthetic import write_dataset

    write_dataset(
        folder, name, task, n_classes, channels=channels, sizes=ANY_TASK_SIZES, marker=0.5
    )


ANY_TASK_04 = {
    "DATASETS": [name for name, *_ in TASK_KINDS],
    "FINDING": {},
    "RECIPE_EPOCHS": 6,
    "N_BOOT": 50,
    "CV_FOLDS": 2,
}


@pytest.mark.notebook
def test_evaluation_runs_on_every_task_kind(tmp_path, monkeypatch):
    """04 top to bottom on a multi-class, an ordinal and a multi-label (RGB) dataset: it
    scores each task as a whole (04_classes), and each improved model clearly beats chance."""
    import pandas as pd

    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    for name, task, n_classes, channels in TASK_KINDS:
        _write_generated(data_dir, name, task, n_classes, channels)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    target = tmp_path / "04_any_task.ipynb"
    _execute(papermill, "04_evaluation.ipynb", target, ANY_TASK_04)
    figures = root / "figures"
    assert (figures / "04_classes.png").is_file()
    classes = pd.read_csv(figures / "04_classes.csv")
    for name, task, n_classes, _ in TASK_KINDS:
        rules = 2 if task.startswith("multi-label") else 1
        assert (classes.dataset == name).sum() == n_classes * rules, name
    benchmark = pd.read_csv(figures / "04_benchmark.csv").set_index(["dataset", "model"])
    for name, *_ in TASK_KINDS:
        improved = benchmark.loc[(name, "compact_cnn (improved recipe)")]
        assert improved["test AUC"] > 0.75, (name, improved["test AUC"])


#: 03 on a generated colour multi-class dataset with a multi-label one as the second: the same
#: small parameters as its smoke run, on other data (no threshold step in its ladder).
ANY_TASK_03 = {
    **SMOKE["03_training.ipynb"],
    "DATASET": "gen_multiclass_rgb",
    "SECOND_DATASET": "gen_multilabel",
    "RECIPE_EPOCHS": 6,
}


@pytest.mark.notebook
def test_training_runs_on_multiclass_and_multilabel_data(tmp_path, monkeypatch):
    """03 top to bottom on a 4-class RGB and a 4-label RGB dataset: the ladder decides by
    MedMNIST's rule (no threshold to choose), the recipes are compared by a paired bootstrap,
    and the improved recipe clearly beats chance on both."""
    import pandas as pd

    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    _write_generated(data_dir, "gen_multiclass_rgb", "multi-class", 4, 3)
    _write_generated(data_dir, "gen_multilabel", "multi-label, binary-class", 4, 3)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    _execute(papermill, "03_training.ipynb", tmp_path / "03_any_task.ipynb", ANY_TASK_03)
    figures = root / "figures"
    ladder = pd.read_csv(figures / "03_ladder.csv")
    assert "+ threshold from validation" not in set(ladder.step)
    assert set(ladder["decision rule"]) == {"MedMNIST's rule"}
    results = pd.read_csv(figures / "03_results.csv")
    improved = results[results.model.str.contains("improved")].set_index("dataset")
    assert set(improved.index) == {"gen_multiclass_rgb", "gen_multilabel"}
    assert (improved["test AUC"] > 0.75).all(), improved["test AUC"]


#: 10 on a generated colour multi-class dataset, with a gray ordinal one as the out-of-scope
#: images: the same small parameters as its smoke run, on other data.
ANY_TASK_10 = {
    **SMOKE["10_generalization.ipynb"],
    "DATASET": "gen_multiclass_rgb",
    "OTHER_DATASET": "gen_ordinal",
    "RECIPE_EPOCHS": 6,
    "CHEAP_EPOCHS": 2,
}


@pytest.mark.notebook
def test_generalization_runs_on_colour_multiclass_data(tmp_path, monkeypatch):
    """10 top to bottom on a 4-class RGB dataset: corruptions of colour images, finding-vs-rest
    scores (the last class, as helpers.data.medmnist.finding says), label flips among four
    classes and the out-of-scope check on gray images; the improved model clearly beats chance
    on clean test images and the feature distance tells the other dataset apart."""
    import pandas as pd

    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    _write_generated(data_dir, "gen_multiclass_rgb", "multi-class", 4, 3)
    _write_generated(data_dir, "gen_ordinal", "ordinal-regression", 5, 1)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    target = tmp_path / "10_any_task.ipynb"
    _execute(papermill, "10_generalization.ipynb", target, ANY_TASK_10)
    figures = root / "figures"
    curves = pd.read_csv(figures / "10_corruptions.csv")
    clean = curves[(curves.model == "improved recipe") & (curves.severity == 0)].iloc[0]
    assert clean.auc > 0.75, clean.auc
    ood = pd.read_csv(figures / "10_ood.csv").set_index("images")
    assert ood.loc["gen_ordinal test", "AUROC distance"] > 0.75
    assert (figures / "10_label_noise.csv").is_file() and (figures / "10_remedies.png").is_file()


#: 09 on a generated colour multi-class dataset: its smoke grid, with enough steps (6 epochs of
#: 600 images, about 60) for the width-8 CNN to learn the bright marker.
ANY_TASK_09 = {
    "DATASET": "gen_multiclass_rgb",
    "RECIPE_EPOCHS": 6,
    "GRID_CHANGES": {
        **SMOKE["09_large_models.ipynb"]["GRID_CHANGES"],
        "epochs": 6,
        "min_steps": 60,
    },
}


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("notebook", "parameters"),
    [("10_generalization.ipynb", ANY_TASK_10), ("09_large_models.ipynb", ANY_TASK_09)],
)
def test_single_label_notebooks_refuse_multilabel_data_by_name(
    notebook, parameters, tmp_path, monkeypatch
):
    """A multi-label dataset stops 09 and 10 in their setup with an error naming the dataset."""
    from helpers.data.synthetic import write_dataset

    papermill = pytest.importorskip("papermill")
    _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    write_dataset(data_dir, "gen_multilabel", "multi-label, binary-class", 3, sizes=ANY_TASK_SIZES)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    with pytest.raises(papermill.PapermillExecutionError, match="gen_multilabel is multi-label"):
        _execute(
            papermill,
            notebook,
            tmp_path / f"multilabel_{notebook}",
            {**parameters, "DATASET": "gen_multilabel"},
        )


#: 08 on a colour multi-class and a gray multi-label dataset: its smoke parameters, on other data.
ANY_TASK_08 = {**SMOKE["08_deployment.ipynb"], "RECIPE_EPOCHS": 6}


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("name", "task", "channels"),
    [
        ("gen_multiclass_rgb", "multi-class", 3),
        ("gen_multilabel", "multi-label, binary-class", 1),
        ("breastmnist", "binary-class", 1),
    ],
)
def test_deployment_runs_on_other_task_kinds(name, task, channels, tmp_path, monkeypatch):
    """08 top to bottom on a 4-class RGB and a 4-label gray dataset and on BreastMNIST (whose
    finding, malignant, is class 0): the exported files agree with Keras by the task's AUC and
    calls, the predict command scores the npz films with the class (or label) names of the
    sidecar, and the model card says how the model decides and which class is positive."""
    import pandas as pd

    from helpers.data.medmnist import load_medmnist

    papermill = pytest.importorskip("papermill")
    if REAL_DATA is None:
        pytest.skip("the demo's other modality needs the real BreastMNIST file")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    if name.startswith("gen_"):
        _write_generated(data_dir, name, task, 4, channels)
    else:
        data_dir.mkdir()
    for other in ("breastmnist", "pneumoniamnist"):  # the other modality of the demo
        (data_dir / f"{other}.npz").symlink_to(Path(REAL_DATA) / f"{other}.npz")
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    target = tmp_path / f"08_{name}.ipynb"
    _execute(papermill, "08_deployment.ipynb", target, {**ANY_TASK_08, "DATASET": name})
    figures = root / "figures"
    parity = pd.read_csv(figures / "08_parity.csv").set_index("variant")
    assert parity.loc["Keras model(x)", "test AUC"] > 0.75
    assert parity.loc["TFLite float32", "same class as Keras"] > 0.95
    card = (figures / "08_model_card.md").read_text(encoding="utf-8")
    rule = {
        "multi-class": "most probable class is called",
        "multi-label, binary-class": "own threshold",
        "binary-class": "Metrics below treat 'malignant' as the positive class",
    }[task]
    assert rule in card
    paired = "(DeLong)" if task == "binary-class" else "(paired bootstrap)"
    ran = json.loads(target.read_text(encoding="utf-8"))
    text = "".join(
        "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/markdown", ""))
        for cell in ran["cells"]
        for out in cell.get("outputs", [])
    )
    first = load_medmnist(name).info.labels[0]
    assert f"P({first})" in text and "three_films.npz[2]" in text, "the sidecar's names"
    assert f"Paired on the same images {paired}" in text


#: 05 with a generated colour dataset as its real images (section 6): its smoke parameters.
ANY_TASK_05 = {**SMOKE["05_explainability.ipynb"], "RECIPE_EPOCHS": 6}


@pytest.mark.notebook
def test_explainability_explains_the_finding_of_colour_multiclass_data(tmp_path, monkeypatch):
    """05 top to bottom with a 4-class RGB dataset as REAL_DATASET: section 6 explains its
    finding (the last class, against the rest) on colour images with all four methods and
    times them under the dataset's own name."""
    import pandas as pd

    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    _write_generated(data_dir, "gen_multiclass_rgb", "multi-class", 4, 3)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    target = tmp_path / "05_any_task.ipynb"
    _execute(
        papermill,
        "05_explainability.ipynb",
        target,
        {**ANY_TASK_05, "REAL_DATASET": "gen_multiclass_rgb"},
    )
    runtime = pd.read_csv(root / "figures" / "05_runtime.csv")
    real_column = next(
        c for c in runtime.columns if c.startswith("seconds per map, ") and "phantom 64" not in c
    )
    assert real_column.endswith(" 28 px") and "X-ray" not in real_column
    assert (runtime[real_column] > 0).all()
    ran = json.loads(target.read_text(encoding="utf-8"))
    text = "".join(
        "".join(out.get("text", "")) for c in ran["cells"] for out in c.get("outputs", [])
    )
    assert "(the last class) against the rest" in text


@pytest.mark.notebook
def test_large_models_run_on_colour_multiclass_data(tmp_path, monkeypatch):
    """09 top to bottom on a 4-class RGB dataset: the grids score it by its one-vs-rest AUC, a
    colour VAE per class and a colour conditional GAN generate images of all four classes, and
    the width-8 CNN on all the training data clearly beats chance."""
    import pandas as pd

    papermill = pytest.importorskip("papermill")
    root = _isolate(tmp_path, monkeypatch)
    data_dir = tmp_path / "data"
    _write_generated(data_dir, "gen_multiclass_rgb", "multi-class", 4, 3)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(data_dir))
    _execute(papermill, "09_large_models.ipynb", tmp_path / "09_any_task.ipynb", ANY_TASK_09)
    figures = root / "figures"
    runs = pd.read_csv(figures / "09_data_scaling.csv")
    full = runs[runs.train_fraction == 1.0]
    assert full.test_auc.mean() > 0.75, full.test_auc.tolist()
    generative = pd.read_csv(figures / "09_generative.csv")
    assert len(generative) == 3 and generative["test AUC mean"].notna().all()
    for name in ("09_vae_samples.png", "09_gan_samples.png", "09_vit_attention.png"):
        assert (figures / name).is_file(), name
