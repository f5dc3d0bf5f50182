"""Datasets of one's own and every MedMNIST task kind (helpers.data.synthetic,
helpers.data.medmnist descriptions), and both recipes training on each: the data decides
the model's input and output."""

import dataclasses
import json

import numpy as np
import pytest

from helpers.data.medmnist import DatasetError, load_medmnist, medmnist_info
from helpers.data.synthetic import synthetic_images, write_dataset

#: (task, classes or labels, channels): every task kind, gray and colour.
KINDS = [
    ("binary-class", 2, 3),
    ("multi-class", 4, 1),
    ("multi-class", 5, 3),
    ("ordinal-regression", 5, 1),
    ("multi-label, binary-class", 4, 3),
    ("multi-label, binary-class", 6, 1),
]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("task", "n_classes", "channels"), KINDS)
def test_a_written_dataset_loads_as_a_flag_in_the_official_layout(
    data_dir, task, n_classes, channels
):
    name = f"synthetic{n_classes}{channels}"
    write_dataset(data_dir, name, task, n_classes, channels=channels, seed=1)
    data = load_medmnist(name)
    kind = data.info.task_kind
    assert data.info.n_channels == channels and data.info.task == task
    x, y = data.split("train")
    assert x.dtype == np.uint8
    assert x.shape == ((300, 28, 28) if channels == 1 else (300, 28, 28, 3))
    if kind == "multi-label":
        assert y.shape == (300, n_classes) and 0 < y.mean() < 0.6
    else:
        assert y.ndim == 1 and set(np.unique(y)) == set(range(data.info.n_classes))
    assert data.info.n_outputs == (1 if kind == "binary" else n_classes)


def test_a_dataset_at_64_px_and_a_tint_that_differs_between_channels(data_dir):
    write_dataset(data_dir, "tinted", "multi-class", 3, channels=3, size=64)
    data = load_medmnist("tinted", 64)
    x, _ = data.split("val")
    assert x.shape == (100, 64, 64, 3)
    assert not np.array_equal(x[..., 0], x[..., 1])


def test_the_label_is_in_the_marker():
    # the same phantoms with other labels differ exactly where the markers are
    x, y = synthetic_images("ordinal-regression", 40, 5, seed=3)
    big, small = x[y[:, 0] == 4].mean(), x[y[:, 0] == 0].mean()
    assert big > small  # a larger disc is brighter on average


def test_a_bad_description_is_named_with_its_problem(data_dir):
    (data_dir / "mine.json").write_text(json.dumps({"task": "multi-class"}))
    with pytest.raises(DatasetError, match=r"mine\.json: missing \['labels'"):
        medmnist_info("mine")
    (data_dir / "mine.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"mine\.json: not readable as JSON"):
        medmnist_info("mine")
    with pytest.raises(DatasetError, match=r"unknown MedMNIST flag 'yours'.*yours\.json"):
        medmnist_info("yours")


def test_a_described_dataset_without_its_file_is_not_downloaded(data_dir, tmp_path_factory):
    write_dataset(data_dir, "gone", "multi-class", 3)
    (data_dir / "gone.npz").unlink()
    cache = tmp_path_factory.mktemp("cache")
    with pytest.raises(DatasetError, match="no address to download it from"):
        load_medmnist("gone", cache_dir=cache)


def test_an_npz_that_does_not_match_its_description_is_refused(data_dir):
    write_dataset(data_dir, "wrong", "multi-class", 3)
    description = json.loads((data_dir / "wrong.json").read_text())
    description["n_channels"] = 3  # the file holds gray images
    (data_dir / "wrong.json").write_text(json.dumps(description))
    with pytest.raises(DatasetError, match=r"wrong\.npz: train_images has shape .*wrong\.json"):
        load_medmnist("wrong")


@pytest.mark.parametrize(("task", "n_classes", "channels"), KINDS[::2] + [KINDS[3]])
def test_both_recipes_learn_every_task_kind_from_the_data_alone(
    data_dir, tmp_path, monkeypatch, task, n_classes, channels
):
    """The recipes take channels, outputs and loss from the dataset; a learnable task is
    learnt by both, clearly above chance (AUC 0.5; with 100 test images its standard error
    is about 0.05)."""
    from helpers.evaluate.metrics import auc_score
    from helpers.train import recipes
    from helpers.train.engine import predict_scores, train

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    name = f"kind{n_classes}{channels}"
    write_dataset(data_dir, name, task, n_classes, channels=channels, seed=2)
    data = load_medmnist(name)
    x_test, y_test = data.split("test")
    for recipe_name, epochs in (("seed", 6), ("improved", 12)):
        config = recipes.recipe(recipe_name, name, epochs=epochs)
        assert config.channels == channels
        if recipe_name == "improved":  # the small-data schedule, shortened for a test
            config = dataclasses.replace(config, patience=None)
        model = train(config, data=data, verbose=False).model
        scores = predict_scores(model, x_test, config)
        auc = auc_score(y_test, scores, data.info.task_kind)
        assert auc > 0.7, (recipe_name, task, channels, auc)


def test_finding_is_named_or_the_last_class():
    """The finding 04 and 10 score: named per dataset, by the caller, or the last class."""
    from helpers.data.medmnist import Finding, finding

    pneumonia = medmnist_info("pneumoniamnist")
    assert finding(pneumonia) == Finding(1, "pneumonia", True)
    assert finding(medmnist_info("breastmnist")) == Finding(0, "malignant", True)  # class 0 here
    assert finding(pneumonia, "normal") == Finding(0, "normal", True)
    other = dataclasses.replace(pneumonia, flag="gen_multiclass", labels=("a", "b", "c"))
    assert finding(other) == Finding(2, "c", False)
    with pytest.raises(ValueError, match="gen_multiclass: no class or label 'pneumonia'"):
        finding(other, "pneumonia")
