"""A lesion-vs-none classifier on synthetic phantoms, whose lesion masks are known
exactly, so that heat-maps can be scored against the truth. Taught in
``notebooks/05_explainability.ipynb``.

``shuffle_labels=True`` trains the same network on randomly permuted labels: the
model-randomisation sanity check of Adebayo et al. (2018) compares explanations of the
two models.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.data.phantoms import PhantomSet, fingerprint, phantom_splits
from helpers.evaluate.metrics import auc_score
from helpers.models.cnn import compact_cnn
from helpers.runtime import set_seed
from helpers.train.cache import cached_model
from helpers.train.engine import fit

DEFAULTS = {
    "n_train": 1200,
    "n_val": 300,
    "n_test": 300,
    "size": 64,
    "lesion_fraction": 0.5,
    "phantom_seed": 300,
    "width": 16,
    "bn_momentum": 0.9,
    "epochs": 8,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "seed": 0,
    "shuffle_labels": False,
}


def train_phantom_classifier(
    params: dict, data: dict[str, PhantomSet], verbose: bool = True
) -> tuple[keras.Model, dict]:
    """Fit :func:`helpers.models.cnn.compact_cnn` (sigmoid output) with Adam and a cosine
    schedule for a fixed number of epochs; the last epoch is kept (checkpoint selection
    would favour the shuffled-label model's luckiest epoch)."""
    p = {**DEFAULTS, **params}
    set_seed(p["seed"])
    x = data["train"].images[..., None].astype(np.float32)
    y = data["train"].labels.astype(np.float32)
    if p["shuffle_labels"]:
        y = np.random.default_rng(p["seed"]).permutation(y)
    model = compact_cnn(
        (p["size"], p["size"], 1), 1, width=p["width"], bn_momentum=p["bn_momentum"]
    )
    steps = int(np.ceil(len(x) / p["batch_size"])) * p["epochs"]
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(p["learning_rate"], steps)
        ),
        loss="binary_crossentropy",
    )
    x_val = data["val"].images[..., None]

    def val_auc(m: keras.Model) -> float:
        return auc_score(data["val"].labels, m.predict(x_val, batch_size=256, verbose=0)[:, 0])

    result = fit(
        model,
        x,
        y,
        epochs=p["epochs"],
        score=val_auc,
        n_train=len(x),
        batch_size=p["batch_size"],
        restore_best=False,
        verbose=verbose,
        print_every=p["epochs"],
        shuffle=True,
    )
    meta = {
        "params": p,
        "loss": [row["loss"] for row in result.epochs],
        "train_seconds": result.train_seconds,
        "val_auc": result.epochs[-1]["score"],
    }
    return model, meta


def load_or_train_phantom_classifier(
    params: dict | None = None, data: dict[str, PhantomSet] | None = None, verbose: bool = True
) -> tuple[keras.Model, dict, bool]:
    """Cached :func:`train_phantom_classifier`: ``(model, meta, from_cache)``."""
    p = {**DEFAULTS, **(params or {})}
    return cached_model(
        "phantom_classifier",
        p,
        lambda: train_phantom_classifier(p, data or phantom_splits(p), verbose),
        data_fingerprint=fingerprint(),
        verbose=verbose,
    )
