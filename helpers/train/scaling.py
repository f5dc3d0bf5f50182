"""Scaling experiments: train one recipe over a grid of model sizes, training-set
fractions and seeds (each run cached by :func:`helpers.train.cache.load_or_train`) and
tabulate test AUC against parameters and training FLOPs. For
``notebooks/09_large_models.ipynb``.

Importing this module does not import TensorFlow: the functions that train import it
themselves, so that a notebook can plan a grid and run it in a fresh process
(``scaling_grid(..., isolate=True)``, see :mod:`helpers.fresh_process`) with a kernel that holds
no TensorFlow memory yet.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import math
import sys

import numpy as np
import pandas as pd

from helpers import fresh_process
from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.models.cnn_math import model_flops
from helpers.runtime import set_seed
from helpers.train.config import TrainConfig

#: Runs per fresh process of an isolated grid. Each trained model leaves memory behind in
#: TensorFlow (:func:`release_memory` slows the growth, it does not stop it): notebook 09's
#: grids of six runs in one process, beside its kernel, peaked at 1.57 GB (widths) and
#: 1.58 GB (ViTs), over the project's 1.5 GB (tools/cell_memory.py).
RUNS_PER_PROCESS = 3


def epochs_for_steps(n_train: int, batch_size: int, min_steps: int, epochs: int) -> int:
    """At least ``epochs``, and enough epochs for ``min_steps`` optimiser steps: a 1 %
    subset would otherwise see only a handful of updates."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return max(epochs, math.ceil(min_steps / steps_per_epoch))


def release_memory() -> None:
    """Free the graphs and weights of models no longer referenced: a grid builds dozens of
    models in one process, and TensorFlow keeps their functions until the session is cleared.
    This slows the growth but does not stop it (measured: about 0.05-0.1 GB per ViT stays
    behind), which is why long lists of runs go to fresh processes
    (:func:`helpers.fresh_process.call_in_batches`)."""

    import keras  # deferred: planning a grid must not import TensorFlow

    keras.backend.clear_session()
    gc.collect()
    if sys.platform.startswith("linux"):
        try:  # hand freed heap pages back to the system (glibc keeps them otherwise)
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            pass


def scaling_run(config: TrainConfig, data: MedMNIST, *, verbose: bool = False) -> dict:
    """Train (or load) ``config`` and measure it: parameters, forward FLOPs per image,
    training FLOPs (3 x forward x images seen), training seconds, validation and test AUC."""
    # Deferred, not a cycle: planning a grid (and notebook 09's kernel) must not import TensorFlow.
    from helpers.evaluate.metrics import auc_score
    from helpers.train.cache import load_or_train
    from helpers.train.engine import predict_scores

    result = load_or_train(config, data=data, verbose=verbose)
    x_test, y_test = data.split("test")
    test_auc = auc_score(
        y_test,
        predict_scores(result.model, x_test, config),
        data.info.task_kind,
    )
    n_train = max(1, int(round(len(data.split("train")[1]) * config.train_fraction)))
    epochs_run = len(result.history["epochs"])
    forward = model_flops(result.model)
    params, seconds, val_auc = (
        result.model.count_params(),
        result.train_seconds,
        result.best_val_auc,
    )
    notes = dict(result.notes)
    del result
    release_memory()
    return {
        "model": config.model,
        "width": config.model_options.get("width"),
        "train_fraction": config.train_fraction,
        "n_train": n_train,
        "seed": config.seed,
        "epochs": epochs_run,
        "params": params,
        "forward_flops": forward,
        "train_flops": 3.0 * forward * n_train * epochs_run,
        "train_seconds": seconds,
        "val_auc": val_auc,
        **notes,
        "test_auc": test_auc,
    }


def grid_configs(
    base: TrainConfig,
    data_size: int,
    *,
    variants: list[dict],
    seeds: tuple[int, ...] = (0,),
    min_steps: int = 0,
) -> list[TrainConfig]:
    """The configs of a grid, variant by variant and seed by seed: each variant is a dict
    of :class:`TrainConfig` changes (e.g. ``{"model_options": {"width": 8}}`` or
    ``{"train_fraction": 0.1}``); with ``min_steps`` small fractions of the ``data_size``
    training images get more epochs (:func:`epochs_for_steps`)."""
    configs = []
    for changes in variants:
        for seed in seeds:
            config = dataclasses.replace(base, seed=seed, **changes)
            if min_steps:
                n_train = max(1, int(round(data_size * config.train_fraction)))
                config = dataclasses.replace(
                    config,
                    epochs=epochs_for_steps(n_train, config.batch_size, min_steps, config.epochs),
                )
            configs.append(config)
    return configs


def _run_all(configs: list[TrainConfig], data_for, verbose: bool) -> list[dict]:
    rows = []
    for config in configs:
        rows.append(scaling_run(config, data_for(config)))
        if verbose:
            row = rows[-1]
            print(
                f"{config.model} width={row['width']} fraction={row['train_fraction']} "
                f"seed={config.seed}: "
                f"test AUC {row['test_auc']:.4f} ({row['train_seconds']:.0f} s)",
                flush=True,
            )
    return rows


def run_configs(
    configs: list[dict], threads: int | None = None, verbose: bool = False
) -> list[dict]:
    """:func:`scaling_run` for each config (given as a dict of :class:`TrainConfig` fields,
    so that :func:`helpers.fresh_process.call` can send it), each dataset loaded once. The
    function a fresh process runs for ``scaling_grid(..., isolate=True)``."""

    set_seed(0, threads=threads)  # fixes the thread count before TensorFlow's first op
    loaded: dict[tuple[str, int], MedMNIST] = {}

    def data_for(config: TrainConfig) -> MedMNIST:
        key = (config.dataset, config.size)
        if key not in loaded:
            loaded[key] = load_medmnist(*key)
        return loaded[key]

    return _run_all([TrainConfig(**fields) for fields in configs], data_for, verbose)


def scaling_grid(
    base: TrainConfig,
    data: MedMNIST | None = None,
    *,
    variants: list[dict],
    seeds: tuple[int, ...] = (0,),
    min_steps: int = 0,
    verbose: bool = False,
    isolate: bool = False,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per (variant, seed) of :func:`grid_configs`, trained (or loaded from the
    cache) on ``data`` (default: ``base.dataset`` as stored). With ``isolate=True`` the grid
    runs in fresh processes of :data:`RUNS_PER_PROCESS` runs with ``threads`` TensorFlow
    threads, each of which loads the dataset itself and returns all its memory when it ends
    (:mod:`helpers.fresh_process`); the rows are the same."""
    if isolate and data is not None:
        raise ValueError("an isolated grid loads its dataset in the subprocess: pass data=None")
    local = data if data is not None else load_medmnist(base.dataset, base.size)
    configs = grid_configs(
        base, len(local.split("train")[1]), variants=variants, seeds=seeds, min_steps=min_steps
    )
    if isolate:
        rows = fresh_process.call_in_batches(
            "helpers.train.scaling:run_configs",
            [dataclasses.asdict(c) for c in configs],
            per_process=RUNS_PER_PROCESS,
            threads=threads,
            verbose=verbose,
        )
    else:
        rows = _run_all(configs, lambda _: local, verbose)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mean, standard deviation and count of test AUC over seeds, per value of ``by``."""
    grouped = table.groupby(by)
    out = grouped.agg(
        params=("params", "first"),
        train_flops=("train_flops", "mean"),
        test_auc_mean=("test_auc", "mean"),
        test_auc_sd=("test_auc", "std"),
        seeds=("seed", "count"),
    ).reset_index()
    out["test_auc_sd"] = out["test_auc_sd"].fillna(0.0)
    return out


def loglog_slope(x: np.ndarray, error: np.ndarray) -> float:
    """Slope of log(error) against log(x): the exponent of a power law error ~ x^slope
    (negative when more helps); NaN unless the error is above zero at two sizes at least (a
    task learnt perfectly at every size but one has no power law to fit)."""
    x, error = np.asarray(x, float), np.asarray(error, float)
    keep = (x > 0) & (error > 0)
    if len(np.unique(x[keep])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(error[keep]), 1)[0])
