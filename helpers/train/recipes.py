"""The two training recipes compared in ``notebooks/03_training.ipynb``, in one place so
that every later notebook (04 evaluation, 05 explainability, 08 deployment, ...) asks the
model cache for exactly the models 03 trained.

``recipe("seed", dataset)`` is the article's recipe as the article wrote it: its CNN,
Adam with Keras' default settings, batch 32, 10 epochs, no augmentation, the weights after
the last epoch, the arg-max class, on every dataset alike. ``recipe("improved", dataset)``
is the compact CNN with AdamW, cosine schedule, augmentation, class weights and
best-validation checkpointing; datasets with fewer than :data:`SMALL_DATA_LIMIT` training
images give it the longer small-data schedule.

One difference from the article is of form only: for a binary task the article's two-way
softmax with categorical cross-entropy is built as one sigmoid unit with binary
cross-entropy. ``softmax([a, b])[1] = sigmoid(b - a)``, so the two describe the same
functions and the arg-max class is the sigmoid output above 0.5.
"""

from __future__ import annotations

import dataclasses

from helpers.data.medmnist import medmnist_info
from helpers.train.config import TrainConfig

SEED_RECIPE = TrainConfig(
    model="seed_cnn",
    epochs=10,
    batch_size=32,
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
    """The ``"seed"`` or ``"improved"`` :class:`TrainConfig` for ``dataset`` (28 px), the
    improved one with the small-data schedule when the published training split has fewer
    than :data:`SMALL_DATA_LIMIT` images, then any ``changes`` (e.g. ``seed=1``).

    ``epochs`` None keeps the recipe's schedule (the models notebook 03 trained and cached);
    a number replaces it, as the notebooks' ``RECIPE_EPOCHS`` parameter does for a short run."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, not {name!r}")
    info = medmnist_info(dataset, RECIPES[name].size)
    n_train = info.n_samples["train"]
    # The data decides the input: a colour dataset trains on its three channels.
    config = dataclasses.replace(RECIPES[name], dataset=dataset, channels=info.n_channels)
    if name == "improved" and n_train < SMALL_DATA_LIMIT:
        small = {**SMALL_DATA, "learning_rate": SMALL_DATA_IMPROVED_LR}
        config = dataclasses.replace(config, **small)
    if epochs is not None:
        changes["epochs"] = epochs
    return dataclasses.replace(config, **changes)
