"""Models trained on perturbed data: training labels flipped at a known rate, suspect
labels removed, or every training image joined by a corrupted copy (matched augmentation).
Taught in ``notebooks/10_generalization.ipynb``.

A perturbation is a small JSON-able dict, so a notebook can send a list of runs to a fresh
process (:mod:`helpers.fresh_process`, which hands back all of TensorFlow's memory) and
later load the same models from the cache in its own kernel: :func:`perturbed_data` builds
the same data, hence the same cache key (:mod:`helpers.train.cache` hashes the data
fingerprint, which each perturbation extends).

    {"flip": 0.2, "seed": 0}                    # 20 % of the training labels flipped
    {"flip": 0.2, "seed": 0, "drop_suspects": True, "folds": 5}   # ... minus the suspects
    {"corrupted_copies": True, "seed": 0}       # each training image plus a corrupted copy
    {"corrupted_copies": True, "seed": 0, "corruption_kinds": ["blur", "jpeg"]}  # of these kinds

The corrupted copies are drawn from ``corruption_kinds`` (default
:data:`helpers.data.corruptions.TRAINING_KINDS`: every kind but inversion), and the kinds are
part of the fingerprint, so a model trained on other kinds is never reused.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from helpers.data.corruptions import TRAINING_KINDS, corrupt_sets, random_corruptions
from helpers.data.label_noise import (
    flip_labels,
    out_of_fold_confidence,
    suspect_labels,
    with_train_labels,
    without_train_images,
)
from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.runtime import set_seed
from helpers.train.cache import load_or_train
from helpers.train.config import TrainConfig
from helpers.train.engine import predict_scores
from helpers.train.scaling import release_memory

PERTURBATION_KEYS = {
    "flip",
    "seed",
    "drop_suspects",
    "folds",
    "corrupted_copies",
    "corruption_kinds",
}


def perturbed_data(data: MedMNIST, perturbation: dict) -> MedMNIST:
    """``data`` with ``perturbation`` applied to its training split (an empty dict: as is).
    Flipping happens first, then the removal of suspects (found by
    :func:`helpers.data.label_noise.out_of_fold_confidence` on the flipped labels), then the
    corrupted copies (:func:`helpers.data.corruptions.random_corruptions`)."""
    if unknown := set(perturbation) - PERTURBATION_KEYS:
        raise ValueError(f"unknown perturbation keys {sorted(unknown)}")
    seed = int(perturbation.get("seed", 0))
    out = data
    if perturbation.get("flip"):
        noisy, _ = flip_labels(data.labels["train"], perturbation["flip"], seed=seed)
        out = with_train_labels(out, noisy, tag=f"flip{perturbation['flip']:g}")
    if perturbation.get("drop_suspects"):
        confidence = out_of_fold_confidence(
            out.images["train"], out.labels["train"], folds=perturbation.get("folds", 5), seed=seed
        )
        out = without_train_images(out, suspect_labels(confidence), tag="suspects")
    if perturbation.get("corrupted_copies"):
        kinds = tuple(perturbation.get("corruption_kinds", TRAINING_KINDS))
        copies, _ = random_corruptions(out.images["train"], seed=seed, kinds=kinds)
        out = dataclasses.replace(
            out,
            images={**out.images, "train": np.concatenate([out.images["train"], copies])},
            labels={**out.labels, "train": np.concatenate([out.labels["train"]] * 2)},
            md5=f"{out.fingerprint}+corrupted-copies-{seed}-{'-'.join(kinds)}",
        )
    return out


def train_runs(
    runs: list[dict],
    threads: int | None = None,
    score_sets: list[tuple[str, int]] | None = None,
    seed: int = 0,
) -> list[dict]:
    """Train (or load from the cache) each run, ``{"name", "config": TrainConfig fields,
    "perturbation": dict}``, on its perturbed data; the function a fresh process runs.
    Returns per run its name, training images, seconds and whether it came from the cache;
    with ``score_sets`` (``(kind, severity)`` pairs, :func:`helpers.data.corruptions.corrupt_sets`
    with ``seed``) also ``"scores"``: the model's raw outputs on the test split under each set,
    in that order, so the kernel never has to load these models."""
    set_seed(0, threads=threads)  # fixes the thread count before TensorFlow's first op
    loaded: dict[tuple[str, int], MedMNIST] = {}
    corrupted: dict[tuple[str, int], np.ndarray] = {}  # the corrupted test sets, made once
    rows = []
    for run in runs:
        config = TrainConfig(**run["config"])
        key = (config.dataset, config.size)
        if key not in loaded:
            loaded[key] = load_medmnist(*key)
            if score_sets is not None:
                sets = [tuple(s) for s in score_sets]
                corrupted[key] = corrupt_sets(loaded[key].images["test"], sets, seed=seed)
        data = perturbed_data(loaded[key], run.get("perturbation", {}))
        result = load_or_train(config, data=data, verbose=False)
        row = {
            "name": run["name"],
            "n_train": int(len(data.labels["train"])),
            "train_seconds": float(result.train_seconds),
            "from_cache": bool(result.from_cache),
        }
        if score_sets is not None:
            # one test set at a time: scoring all of them in one call held about 0.15 GB more
            n_test = len(loaded[key].images["test"])
            stacked = corrupted[key]
            row["scores"] = np.stack(
                [
                    predict_scores(result.model, stacked[start : start + n_test], config)
                    for start in range(0, len(stacked), n_test)
                ]
            )
        rows.append(row)
        del result
        release_memory()  # what each model leaves behind adds up over the runs
    return rows
