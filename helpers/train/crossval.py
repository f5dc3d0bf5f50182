"""Stratified k-fold cross-validation of a training recipe on train + validation, with
an inner validation split per fold so that checkpoint selection never sees the fold
being scored. Taught in ``notebooks/04_evaluation.ipynb``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from helpers.data.medmnist import MedMNIST
from helpers.evaluate.metrics import auc_score
from helpers.train.config import TrainConfig
from helpers.train.engine import predict_scores, train


def _strata(labels: np.ndarray) -> np.ndarray:
    """What to stratify on: the label, or for multi-label data whether any label is set."""
    return labels if labels.ndim == 1 else labels.any(axis=1).astype(int)


def cross_validate(
    config: TrainConfig,
    data: MedMNIST,
    *,
    k: int = 5,
    seed: int = 0,
    inner_val_fraction: float = 0.1,
    verbose: bool = False,
) -> pd.DataFrame:
    """Train ``config`` k times on the pooled train + validation splits of ``data``.

    Fold f holds out one stratified k-th of the pool for scoring; of the rest, a
    stratified ``inner_val_fraction`` picks the checkpoint (as the validation split does
    in :func:`helpers.train.engine.train`) and the remainder trains. The official test split
    is never touched. Returns one row per fold: sizes, held-out AUC, best epoch and
    training seconds."""
    if k < 2:
        raise ValueError(f"k must be at least 2, not {k}")
    images = np.concatenate([data.images["train"], data.images["val"]])
    labels = np.concatenate([data.labels["train"], data.labels["val"]])
    kind = data.info.task_kind
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    rows = []
    for fold, (rest, held) in enumerate(folds.split(images, _strata(labels)), start=1):
        fit, inner = train_test_split(
            rest,
            test_size=inner_val_fraction,
            stratify=_strata(labels[rest]),
            random_state=seed + fold,
        )
        fold_data = dataclasses.replace(
            data,
            images={"train": images[fit], "val": images[inner], "test": images[held]},
            labels={"train": labels[fit], "val": labels[inner], "test": labels[held]},
        )
        result = train(config, data=fold_data, verbose=False)
        auc = auc_score(labels[held], predict_scores(result.model, images[held], config), kind)
        rows.append(
            {
                "fold": fold,
                "n_train": len(fit),
                "n_inner_val": len(inner),
                "n_held_out": len(held),
                "held_out_auc": auc,
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.train_seconds, 1),
            }
        )
        if verbose:
            print(
                f"fold {fold}/{k}: held-out AUC {auc:.4f} (best epoch {result.best_epoch}, "
                f"{result.train_seconds:.1f} s)",
                flush=True,
            )
    return pd.DataFrame(rows)
