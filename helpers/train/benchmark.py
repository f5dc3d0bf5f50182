"""Headline numbers that stand beside a published benchmark: MedMNIST's definitions, over
several training seeds. Taught in ``notebooks/03_training.ipynb`` (the results table).

MedMNIST v2 (Yang et al. 2023) scores every model on the test split with two numbers: the
ROC AUC of the predicted scores (:func:`helpers.evaluate.metrics.auc_score`, the same
definition) and the accuracy of the predicted class: the arg-max class for a multi-class
task, the positive score above 0.5 for a binary one, every label above 0.5 for a
multi-label one (:func:`helpers.evaluate.metrics.medmnist_accuracy`). It reports mean ± sd
over training runs; one run moves by more than the third decimal between seeds and
machines, so a single run is no headline number.

:func:`score_runs` trains (or loads from the cache) a list of configurations and scores
each; the notebook runs it in fresh processes of a few runs each
(:func:`helpers.fresh_process.call_in_batches`), which hand the memory of their models back
when they exit. :func:`seed_summary` turns its rows into
the mean ± sd table (:func:`helpers.report.pm` writes one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit, softmax

from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.evaluate.metrics import auc_score, medmnist_accuracy
from helpers.runtime import set_seed
from helpers.train.config import TrainConfig
from helpers.train.scaling import release_memory


def without_prior_shift(scores: np.ndarray, shift: list[float] | np.ndarray) -> np.ndarray:
    """The probabilities a model gave before :func:`helpers.train.engine.restore_prior` moved
    its output bias by ``shift``: sigmoid scores (1-D, binary) or softmax rows (multi-class);
    notebook 03 scores validation both ways."""
    scores, shift = np.asarray(scores, dtype=float), np.asarray(shift, dtype=float)
    eps = 1e-12  # a saturated score of exactly 0 or 1 has no finite logit
    if scores.ndim == 1:
        return expit(logit(np.clip(scores, eps, 1 - eps)) - shift[0])
    return softmax(np.log(np.clip(scores, eps, None)) - shift, axis=1)


def score_run(config: TrainConfig, data: MedMNIST, *, verbose: bool = False) -> dict:
    """Train (or load) ``config`` and score it on the test split with MedMNIST's definitions:
    one row (model, dataset, seed, kept epoch, validation AUC, validation ACC with and without
    the prior shift of :func:`helpers.train.engine.restore_prior`, test AUC, test ACC (and
    without the shift, reported beside it, never used to choose), seconds)."""
    # deferred: importing this module (for seed_summary, say) must not import TensorFlow
    from helpers.train.cache import load_or_train
    from helpers.train.engine import predict_scores

    result = load_or_train(config, data=data, verbose=verbose)
    x_test, y_test = data.split("test")
    scores = predict_scores(result.model, x_test, config)
    kind = data.info.task_kind
    # Validation ACC with and without the class-weighted recipe's output-bias shift
    # (helpers.train.engine.restore_prior): the evidence 03 shows for that choice.
    x_val, y_val = data.split("val")
    val_scores = predict_scores(result.model, x_val, config)
    shift = result.notes.get("prior_shift")
    unshifted = without_prior_shift(val_scores, shift) if shift else val_scores
    test_unshifted = without_prior_shift(scores, shift) if shift else scores
    row = {
        "model": config.model,
        "dataset": config.dataset,
        "seed": config.seed,
        "keep": config.keep,
        "epochs": len(result.history["epochs"]),
        "kept_epoch": result.best_epoch,
        "val_auc": result.best_val_auc,
        "val_acc": medmnist_accuracy(y_val, val_scores, kind),
        "val_acc_unshifted": medmnist_accuracy(y_val, unshifted, kind),
        "test_auc": auc_score(y_test, scores, kind),
        "test_acc": medmnist_accuracy(y_test, scores, kind),
        "test_acc_unshifted": medmnist_accuracy(y_test, test_unshifted, kind),
        "train_seconds": result.train_seconds,
        "from_cache": result.from_cache,
        "key": config.key(),
    }
    del result
    release_memory()
    return row


def score_runs(configs: list[dict], threads: int | None = None, verbose: bool = True) -> list[dict]:
    """:func:`score_run` for each config (a dict of :class:`TrainConfig` fields, so that
    :func:`helpers.fresh_process.call` can send it), each dataset loaded once; prints one
    line per run when ``verbose``."""
    set_seed(0, threads=threads)  # fixes the thread count before TensorFlow's first op
    loaded: dict[tuple[str, int], MedMNIST] = {}
    rows = []
    for fields in configs:
        config = TrainConfig(**fields)
        key = (config.dataset, config.size)
        if key not in loaded:
            loaded[key] = load_medmnist(*key)
        rows.append(score_run(config, loaded[key]))
        if verbose:
            row = rows[-1]
            how = "loaded from the cache" if row["from_cache"] else "trained"
            print(
                f"{config.dataset} {config.model} seed {config.seed}: {how}, "
                f"{row['epochs']} epochs, kept epoch {row['kept_epoch']}, "
                f"test AUC {row['test_auc']:.3f}, ACC {row['test_acc']:.3f}",
                flush=True,
            )
    return rows


def seed_summary(rows: pd.DataFrame | list[dict], by: list[str]) -> pd.DataFrame:
    """Mean, sample sd and number of seeds of test AUC and ACC per group of ``by``
    (the sd needs at least two seeds; with one it is NaN)."""
    table = pd.DataFrame(rows)
    summary = table.groupby(by, sort=False).agg(
        seeds=("seed", "nunique"),
        auc_mean=("test_auc", "mean"),
        auc_sd=("test_auc", "std"),
        acc_mean=("test_acc", "mean"),
        acc_sd=("test_acc", "std"),
    )
    return summary.reset_index()


def article_speed(
    dataset: str,
    size: int = 256,
    steps: int = 16,
    batch_size: int = 8,
    threads: int | None = 2,
    data_size: int = 28,
) -> dict:
    """Training images per second of the article's seed CNN at ``size`` x ``size`` x 3
    (images of ``dataset`` at ``data_size`` px resized on the fly, as the article's generator
    does), timed over ``steps``
    steps after one untimed step that builds the graph; with its parameter count and the
    number of training images. Notebook 03 runs it in a fresh process
    (:func:`helpers.fresh_process.call`) before its kernel imports TensorFlow: at 256 px
    the graph and its buffers take about 0.5 GB (at batch 4) that a notebook kernel would keep."""
    import time

    import keras

    from helpers.data.preprocess import make_dataset
    from helpers.models.cnn import seed_cnn

    set_seed(0, threads=threads)
    data = load_medmnist(dataset, data_size)
    x_train, y_train = data.split("train")
    # The article's two-way softmax for a binary task, as many outputs as classes (or
    # labels, one sigmoid each) for any other: the timing does not depend on the head.
    if data.info.task_kind == "multi-label":
        model = seed_cnn((size, size, 3), data.info.n_classes, multi_label=True)
        loss, y_train = "binary_crossentropy", y_train.astype("float32")
    else:
        model = seed_cnn((size, size, 3), max(2, data.info.n_classes))
        loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    n = batch_size * (steps + 1)
    batches = iter(
        make_dataset(x_train[:n], y_train[:n], batch_size=batch_size, image_size=size, channels=3)
    )
    model.train_on_batch(*next(batches))  # the first step builds the graph: not timed
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*next(batches))
    rate = batch_size * steps / (time.perf_counter() - start)
    return {"images_per_second": rate, "parameters": model.count_params(), "n_train": len(x_train)}
