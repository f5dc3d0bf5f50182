"""Scaling experiments: train one recipe over a grid of model sizes, training-set
fractions and seeds (each run cached by :func:`helpers.training.load_or_train`) and
tabulate test AUC against parameters and training FLOPs. For
``notebooks/09_large_models.ipynb``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from helpers.cnn_math import model_flops
from helpers.datasets import MedMNIST
from helpers.training import TrainConfig, auc_score, load_or_train, predict_scores, task_kind


def epochs_for_steps(n_train: int, batch_size: int, min_steps: int, epochs: int) -> int:
    """At least ``epochs``, and enough epochs for ``min_steps`` optimiser steps: a 1 %
    subset would otherwise see only a handful of updates."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return max(epochs, math.ceil(min_steps / steps_per_epoch))


def release_memory() -> None:
    """Free the graphs and weights of models no longer referenced: a grid builds dozens of
    models in one process, and TensorFlow keeps their functions until the session is cleared
    (without this, the 09 notebook's default grid peaks near 3 GB)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def scaling_run(config: TrainConfig, data: MedMNIST, *, verbose: bool = False) -> dict:
    """Train (or load) ``config`` and measure it: parameters, forward FLOPs per image,
    training FLOPs (3 x forward x images seen), training seconds, validation and test AUC."""
    result = load_or_train(config, data=data, verbose=verbose)
    x_test, y_test = data.split("test")
    test_auc = auc_score(y_test, predict_scores(result.model, x_test, config), task_kind(data.info))
    n_train = max(1, int(round(len(data.split("train")[1]) * config.train_fraction)))
    epochs_run = len(result.history["epochs"])
    forward = model_flops(result.model)
    params, seconds, val_auc = result.model.count_params(), result.train_seconds, result.best_val_auc
    del result
    release_memory()
    return {"model": config.model, "width": config.model_options.get("width"), "train_fraction": config.train_fraction,
            "n_train": n_train, "seed": config.seed, "epochs": epochs_run, "params": params,
            "forward_flops": forward, "train_flops": 3.0 * forward * n_train * epochs_run,
            "train_seconds": seconds, "val_auc": val_auc, "test_auc": test_auc}


def scaling_grid(base: TrainConfig, data: MedMNIST, *, variants: list[dict], seeds: tuple[int, ...] = (0,),
                 min_steps: int = 0, verbose: bool = False) -> pd.DataFrame:
    """One row per (variant, seed): each variant is a dict of :class:`TrainConfig`
    changes (e.g. ``{"model_options": {"width": 8}}`` or ``{"train_fraction": 0.1}``);
    with ``min_steps`` small fractions get more epochs (:func:`epochs_for_steps`)."""
    n_full = len(data.split("train")[1])
    rows = []
    for changes in variants:
        for seed in seeds:
            config = dataclasses.replace(base, seed=seed, **changes)
            if min_steps:
                n_train = max(1, int(round(n_full * config.train_fraction)))
                config = dataclasses.replace(config, epochs=epochs_for_steps(n_train, config.batch_size, min_steps,
                                                                              config.epochs))
            rows.append(scaling_run(config, data, verbose=verbose))
            if verbose:
                row = rows[-1]
                print(f"{config.model} width={row['width']} fraction={row['train_fraction']} seed={seed}: "
                      f"test AUC {row['test_auc']:.4f} ({row['train_seconds']:.0f} s)", flush=True)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mean, standard deviation and count of test AUC over seeds, per value of ``by``."""
    grouped = table.groupby(by)
    out = grouped.agg(params=("params", "first"), train_flops=("train_flops", "mean"),
                      test_auc_mean=("test_auc", "mean"), test_auc_sd=("test_auc", "std"),
                      seeds=("seed", "count")).reset_index()
    out["test_auc_sd"] = out["test_auc_sd"].fillna(0.0)
    return out


def loglog_slope(x: np.ndarray, error: np.ndarray) -> float:
    """Slope of log(error) against log(x): the exponent of a power law error ~ x^slope
    (negative when more helps)."""
    x, error = np.asarray(x, float), np.asarray(error, float)
    keep = (x > 0) & (error > 0)
    return float(np.polyfit(np.log(x[keep]), np.log(error[keep]), 1)[0])
