"""The two training recipes compared in ``notebooks/03_training.ipynb``, in one place so
that every later notebook (04 evaluation, 05 explainability, 08 deployment, ...) asks the
model cache for exactly the models 03 trained.

``recipe("seed", dataset)`` is the article's recipe (seed CNN, Adam, no augmentation,
last epoch kept); ``recipe("improved", dataset)`` the compact CNN with AdamW, cosine
schedule, augmentation, class weights and best-validation checkpointing. Datasets with
fewer than :data:`SMALL_DATA_LIMIT` training images get the longer small-data schedule.
"""

from __future__ import annotations

import dataclasses

from helpers.data.medmnist import medmnist_info
from helpers.train.config import TrainConfig

SEED_RECIPE = TrainConfig(
    model="seed_cnn",
    epochs=20,
    batch_size=64,
    optimizer="adam",
    learning_rate=1e-3,
    schedule="constant",
    augment=0.0,
    class_weight=False,
    patience=None,
    seed=0,
    keep="last",
)
IMPROVED_RECIPE = TrainConfig(
    model="compact_cnn",
    epochs=20,
    batch_size=64,
    optimizer="adamw",
    learning_rate=3e-3,
    schedule="cosine",
    augment=1.0,
    class_weight=True,
    patience=8,
    seed=0,
    model_options={"width": 32, "dropout": 0.3},
)

#: A dataset with fewer training images than this (BreastMNIST: 546, 9 steps of 64 per
#: epoch) trains longer with smaller batches.
SMALL_DATA_LIMIT = 1000
SMALL_DATA = {"epochs": 100, "batch_size": 32, "patience": 30}
#: The improved recipe's learning rate on small data, chosen on BreastMNIST's validation AUC.
SMALL_DATA_IMPROVED_LR = 1e-3

RECIPES = {"seed": SEED_RECIPE, "improved": IMPROVED_RECIPE}


def recipe(name: str, dataset: str, epochs: int | None = None, **changes) -> TrainConfig:
    """The ``"seed"`` or ``"improved"`` :class:`TrainConfig` for ``dataset`` (28 px), with
    the small-data schedule when its published training split has fewer than
    :data:`SMALL_DATA_LIMIT` images, then any ``changes`` (e.g. ``seed=1``).

    ``epochs`` None keeps the recipe's schedule (the models notebook 03 trained and cached);
    a number replaces it, as the notebooks' ``RECIPE_EPOCHS`` parameter does for a short run."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, not {name!r}")
    n_train = medmnist_info(dataset, RECIPES[name].size).n_samples["train"]
    config = dataclasses.replace(RECIPES[name], dataset=dataset)
    if n_train < SMALL_DATA_LIMIT:
        small = dict(SMALL_DATA)
        if name == "seed":
            small["patience"] = None  # the seed recipe never stops early
        else:
            small["learning_rate"] = SMALL_DATA_IMPROVED_LR
        config = dataclasses.replace(config, **small)
    if epochs is not None:
        changes["epochs"] = epochs
    return dataclasses.replace(config, **changes)
