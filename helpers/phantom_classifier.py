"""A lesion-vs-none classifier on synthetic phantoms, whose lesion masks are known
exactly, so that heat-maps can be scored against the truth. Taught in
``notebooks/05_explainability.ipynb``.

``shuffle_labels=True`` trains the same network on randomly permuted labels: the
model-randomisation sanity check of Adebayo et al. (2018) compares explanations of the
two models.
"""

from __future__ import annotations

import time

import keras
import numpy as np
from sklearn.metrics import roc_auc_score

from helpers.config import set_seed
from helpers.models import compact_cnn
from helpers.synthetic import PhantomSet, make_phantom_splits
from helpers.training import cached_model

DEFAULTS = {"n_train": 1200, "n_val": 300, "n_test": 300, "size": 64, "lesion_fraction": 0.5, "phantom_seed": 300,
            "width": 16, "bn_momentum": 0.9, "epochs": 8, "batch_size": 64, "learning_rate": 3e-3, "seed": 0, "shuffle_labels": False}


def phantom_classification_splits(params: dict | None = None) -> dict[str, PhantomSet]:
    """Train/val/test phantom sets from three different seeds (no phantom is shared)."""
    p = {**DEFAULTS, **(params or {})}
    return make_phantom_splits({split: p[f"n_{split}"] for split in ("train", "val", "test")}, p["size"],
                               p["phantom_seed"], p["lesion_fraction"])


def train_phantom_classifier(params: dict, data: dict[str, PhantomSet], verbose: bool = True) -> tuple[keras.Model, dict]:
    """Fit :func:`helpers.models.compact_cnn` (sigmoid output) with Adam and a cosine
    schedule for a fixed number of epochs; the last epoch is kept (checkpoint selection
    would favour the shuffled-label model's luckiest epoch)."""
    p = {**DEFAULTS, **params}
    set_seed(p["seed"])
    x = data["train"].images[..., None].astype(np.float32)
    y = data["train"].labels.astype(np.float32)
    if p["shuffle_labels"]:
        y = np.random.default_rng(p["seed"]).permutation(y)
    model = compact_cnn((p["size"], p["size"], 1), 1, width=p["width"], bn_momentum=p["bn_momentum"])
    steps = int(np.ceil(len(x) / p["batch_size"])) * p["epochs"]
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(p["learning_rate"], steps)),
                  loss="binary_crossentropy")
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=p["batch_size"], epochs=p["epochs"], shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    val_scores = model.predict(data["val"].images[..., None], batch_size=256, verbose=0)[:, 0]
    meta = {"params": p, "loss": [float(v) for v in history.history["loss"]], "train_seconds": seconds,
            "val_auc": float(roc_auc_score(data["val"].labels, val_scores))}
    if verbose:
        print(f"trained in {seconds:.1f} s; final loss {meta['loss'][-1]:.4f}; val AUC {meta['val_auc']:.4f}")
    return model, meta


def load_or_train_phantom_classifier(params: dict | None = None, data: dict[str, PhantomSet] | None = None,
                                     verbose: bool = True) -> tuple[keras.Model, dict, bool]:
    """Cached :func:`train_phantom_classifier`: ``(model, meta, from_cache)``."""
    p = {**DEFAULTS, **(params or {})}
    return cached_model("phantom_classifier", p,
                        lambda: train_phantom_classifier(p, data or phantom_classification_splits(p), verbose),
                        verbose=verbose)
