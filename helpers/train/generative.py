"""Generative augmentation runs, each meant for a fresh process
(:func:`helpers.fresh_process.call`): train (or load from the model cache) a VAE per class
(:mod:`helpers.models.vae`) or a conditional GAN (:mod:`helpers.models.gan`) on a subset
of a MedMNIST training split and return samples, and train the classifier on real images
with and without generated ones over seeds. Taught in ``notebooks/09_large_models.ipynb``.

The cache key of a generator holds every setting that decides it (``kind``, the settings
dict, the class, the seed) and a fingerprint of the images it saw (the dataset's md5 and the
indices of the subset), so a re-run with the same settings loads it and any change trains
a new one. Results travel as JSON: images as uint8 lists.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.runtime import set_seed
from helpers.train import scaling
from helpers.train.config import TrainConfig

#: What :func:`generate` trains: one VAE per class, one VAE on all classes pooled, or one
#: class-conditional GAN.
KINDS = ("vae", "vae_pooled", "gan")


def _to_uint8(images: np.ndarray) -> np.ndarray:
    """Generated (n, H, W, C) floats in [0, 1] -> uint8 in MedMNIST's layout: (n, H, W) for
    gray images, (n, H, W, 3) for colour ones."""
    images = np.asarray(images)
    images = images[..., 0] if images.shape[-1] == 1 else images
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def subset_fingerprint(data: MedMNIST, keep: list[int]) -> str:
    """The data part of a generator's cache key: the dataset's fingerprint and the md5 of
    the training indices it was trained on."""
    digest = hashlib.md5(np.asarray(keep, np.int64).tobytes()).hexdigest()[:12]
    return f"{data.fingerprint}-subset-{digest}"


def generate(
    kind: str,
    dataset: str,
    keep: list[int],
    settings: dict,
    n_per_class: int,
    seed: int = 0,
    threads: int | None = None,
) -> dict:
    """Train (or load) the generator ``kind`` (see :data:`KINDS`) on the training images
    ``keep`` of ``dataset`` with ``settings`` (keyword arguments of
    :func:`helpers.models.vae.train_vae` or :func:`helpers.models.gan.train_gan`) and draw
    ``n_per_class`` samples per class. Returns ``{"samples": {class: uint8 images},
    "history": {class or "all": history}, "train_seconds", "from_cache"}``; for
    ``vae_pooled`` the samples carry no class and are returned under ``"all"``
    (``n_per_class`` times the number of classes). A multi-label dataset is refused."""
    if kind not in KINDS:
        raise ValueError(f"unknown generator kind {kind!r}; known: {', '.join(KINDS)}")
    set_seed(seed, threads=threads)
    # Deferred: importing this module (to plan a run) must not import TensorFlow.
    from helpers.models.gan import sample_gan, train_gan
    from helpers.models.vae import sample, train_vae
    from helpers.train.cache import cached_model

    data = load_medmnist(dataset)
    if data.info.task_kind == "multi-label":
        raise ValueError(
            f"{dataset} is multi-label: a generator here is conditioned on one class per image"
        )
    x, y = data.split("train")
    x, y = x[np.asarray(keep, int)] / 255.0, y[np.asarray(keep, int)]
    fingerprint = subset_fingerprint(data, keep)
    samples, histories, seconds, from_cache = {}, {}, 0.0, True

    def fitted(name: str, params: dict, fit) -> tuple:
        model, meta, cached = cached_model(
            name, params, fit, data_fingerprint=fingerprint, verbose=False
        )
        return model, meta, cached

    if kind == "gan":

        def fit_gan():
            generator, _, history = train_gan(x, y, seed=seed, **settings)
            return generator, {"history": history}

        generator, meta, from_cache = fitted(
            f"gan-{dataset}", {"kind": kind, "seed": seed, **settings}, fit_gan
        )
        for c in np.unique(y).tolist():
            samples[c] = _to_uint8(sample_gan(generator, np.full(n_per_class, c), seed=seed + c))
        histories["all"] = meta["history"]
        seconds = meta["history"]["seconds"]
    else:
        if kind == "vae_pooled":
            groups = [("all", x, len(np.unique(y)) * n_per_class)]
        else:
            groups = [(c, x[y == c], n_per_class) for c in np.unique(y).tolist()]
        for c, images, n in groups:
            offset = 2 if c == "all" else c

            def fit_vae(images=images, offset=offset):
                _, decoder, history = train_vae(images, seed=seed + offset, **settings)
                return decoder, {"history": history}

            decoder, meta, cached = fitted(
                f"vae-{dataset}",
                {"kind": kind, "class": c, "seed": seed + offset, **settings},
                fit_vae,
            )
            samples[c] = _to_uint8(sample(decoder, n, seed=seed + offset))
            histories[c] = meta["history"]
            seconds += meta["history"]["seconds"]
            from_cache = from_cache and cached
    return {
        "samples": {str(c): v for c, v in samples.items()},
        "history": {str(c): v for c, v in histories.items()},
        "train_seconds": seconds,
        "from_cache": from_cache,
    }


def augmentation_runs(
    config: dict,
    keep: list[int],
    extra: dict[str, dict],
    seeds: list[int],
    min_steps: int = 0,
    threads: int | None = None,
    include_real: bool = True,
) -> list[dict]:
    """Test AUC of the classifier ``config`` (a dict of :class:`TrainConfig` fields) trained
    on the training images ``keep`` alone (``"real only"``, unless ``include_real`` is false)
    and with each set of generated images added (``extra``: name -> ``{"x": uint8 images,
    "y": labels}``), once per seed in ``seeds``, with at least ``min_steps`` optimiser steps.
    Not cached: the training sets are made here. One row per (training set, seed). TensorFlow
    keeps some memory of every model trained in a process, so a notebook calls this once per
    training set, each in a fresh process."""
    set_seed(seeds[0], threads=threads)
    # Deferred: importing this module must not import TensorFlow.
    from helpers.evaluate.metrics import auc_score
    from helpers.train.engine import predict_scores, train

    base = TrainConfig(**config)
    data = load_medmnist(base.dataset, base.size)
    train_x, train_y = data.split("train")
    real_x, real_y = train_x[np.asarray(keep, int)], train_y[np.asarray(keep, int)]
    sets = {"real only": (real_x, real_y)} if include_real else {}
    for name, images in extra.items():
        sets[name] = (
            np.concatenate([real_x, np.asarray(images["x"], np.uint8)]),
            np.concatenate([real_y, np.asarray(images["y"], real_y.dtype)]),
        )
    rows = []
    for name, (x, y) in sets.items():
        subset = dataclasses.replace(
            data, images={**data.images, "train": x}, labels={**data.labels, "train": y}
        )
        for seed in seeds:
            cfg = dataclasses.replace(
                base,
                seed=seed,
                epochs=scaling.epochs_for_steps(len(y), base.batch_size, min_steps, base.epochs),
            )
            result = train(cfg, data=subset, verbose=False)
            scores = predict_scores(result.model, data.images["test"], cfg)
            rows.append(
                {
                    "training set": name,
                    "seed": seed,
                    "train images": len(y),
                    "test AUC": auc_score(data.labels["test"], scores, data.info.task_kind),
                }
            )
            del result
            scaling.release_memory()
    return rows
