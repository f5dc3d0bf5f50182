"""The model cache: a trained model is stored once under ``.cache/models`` (git-ignored)
and reused by every later notebook that asks for the same thing.

An entry's name is a hash of everything that decides the model: every training parameter,
the recipe and Keras versions, the code that trains it
(:func:`helpers.train.config.code_fingerprint`; :func:`helpers.train.config.params_key`)
and a fingerprint of the data it was trained on (the md5 of the MedMNIST file, or the
phantom generator's version and seeds), so a model trained by other code or on another
copy of the data is never reused silently. Entries are written atomically
(:mod:`helpers.atomic`). Taught in ``notebooks/03_training.ipynb``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import keras

from helpers import atomic
from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.models import registry  # noqa: F401  (registers the custom objects cached models hold)
from helpers.paths import model_cache_dir
from helpers.train.config import TrainConfig, params_key
from helpers.train.engine import TrainResult, train


def entry_folder(name: str, params: dict, data_fingerprint: str) -> Path:
    """``.cache/models/<name>-<key>``: the key hashes ``params`` and the data fingerprint."""
    return model_cache_dir() / f"{name}-{params_key({**params, 'data': data_fingerprint})}"


def save_entry(folder: Path, model: keras.Model, meta: dict) -> Path:
    """Write ``model.keras`` and ``result.json`` into ``folder`` atomically: an
    interrupted save never leaves a half-written entry."""
    with atomic.staged_folder(folder) as staging:
        model.save(staging / "model.keras")
        (staging / "result.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return folder


def load_entry(folder: Path) -> tuple[keras.Model, dict] | None:
    """``(model, meta)`` from a cache entry, or None if there is none."""
    if not ((folder / "result.json").is_file() and (folder / "model.keras").is_file()):
        return None
    meta = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    return keras.models.load_model(folder / "model.keras", compile=False), meta


def cached_model(
    name: str,
    params: dict,
    fit: Callable[[], tuple[keras.Model, dict]],
    *,
    data_fingerprint: str,
    verbose: bool = True,
) -> tuple[keras.Model, dict, bool]:
    """The cached ``(model, meta)`` for ``name`` + ``params`` + data, else ``fit()`` and
    cache it. Returns ``(model, meta, from_cache)``. The one cache lookup of the collection."""
    folder = entry_folder(name, params, data_fingerprint)
    found = load_entry(folder)
    if found is not None:
        if verbose:
            print(f"loaded {name} from the model cache ({folder.name})")
        return found[0], found[1], True
    model, meta = fit()
    save_entry(folder, model, meta)
    return model, meta, False


def load_or_train(
    config: TrainConfig, *, strategy=None, verbose: bool = True, data: MedMNIST | None = None
) -> TrainResult:
    """The cached :func:`helpers.train.engine.train` result for ``config`` on this data."""
    dataset = data if data is not None else load_medmnist(config.dataset, config.size)

    def fit() -> tuple[keras.Model, dict]:
        result = train(config, strategy=strategy, verbose=verbose, data=dataset)
        return result.model, {
            "config": dataclasses.asdict(config),
            "history": result.history,
            "train_seconds": result.train_seconds,
            "best_val_auc": result.best_val_auc,
            "best_epoch": result.best_epoch,
            "images_per_second": result.images_per_second,
            "notes": result.notes,
        }

    name = f"{config.model}-{config.dataset}"
    model, meta, from_cache = cached_model(
        name, dataclasses.asdict(config), fit, data_fingerprint=dataset.fingerprint, verbose=verbose
    )
    return TrainResult(
        model=model,
        config=config,
        history=meta["history"],
        train_seconds=meta["train_seconds"],
        best_val_auc=meta["best_val_auc"],
        best_epoch=meta["best_epoch"],
        images_per_second=meta["images_per_second"],
        from_cache=from_cache,
        notes=meta.get("notes", {}),
    )
