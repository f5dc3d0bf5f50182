"""Training: one recipe for every model, with validation-AUC checkpointing, early stopping,
class weighting, a learning-rate schedule, determinism, wall-clock bookkeeping, and a
cache of trained models keyed by every parameter.

Taught in ``notebooks/03_training.ipynb``; later notebooks call :func:`load_or_train`
with the same :class:`TrainConfig` and get the cached model back (or train it, when a
notebook is run on its own).

Every choice (best epoch, early stopping) is made on the validation split; the test
split is never touched here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from helpers.config import model_cache_dir, set_seed
from helpers.datasets import MedMNISTInfo, load_medmnist
from helpers.models import build_model
from helpers.preprocess import augmentation, make_dataset
from helpers.runconfig import RECIPE_VERSION, TrainConfig, params_key  # noqa: F401 (re-exported)


@dataclass
class TrainResult:
    """A trained model (best validation weights) and what happened on the way."""

    model: keras.Model
    config: TrainConfig
    history: dict            # "epochs": per-epoch rows; "evals": every validation check
    train_seconds: float     # training time, validation excluded
    best_val_auc: float
    best_epoch: int
    images_per_second: float
    from_cache: bool = False

    def time_to_auc(self, target: float) -> float | None:
        """Training seconds until validation AUC first reached ``target`` (None: never)."""
        return time_to_auc(self.history["evals"], target)


def time_to_auc(evals: list[dict], target: float) -> float | None:
    """First ``train_seconds`` at which ``val_auc >= target`` in a list of evaluations."""
    for row in evals:
        if row["val_auc"] >= target:
            return row["train_seconds"]
    return None


def task_kind(info: MedMNISTInfo) -> str:
    """'binary', 'multi-label' or 'multi-class' (ordinal regression is treated as
    multi-class)."""
    if info.task == "binary-class":
        return "binary"
    if info.task.startswith("multi-label"):
        return "multi-label"
    return "multi-class"


def n_outputs(info: MedMNISTInfo) -> int:
    """One sigmoid unit for binary tasks, one unit per class or label otherwise."""
    return 1 if task_kind(info) == "binary" else info.n_classes


def auc_score(y_true: np.ndarray, scores: np.ndarray, kind: str) -> float:
    """ROC AUC (scikit-learn): binary, macro one-vs-rest for multi-class, macro over labels."""
    if kind == "binary":
        return float(roc_auc_score(y_true, np.ravel(scores)))
    if kind == "multi-label":
        return float(roc_auc_score(y_true, scores, average="macro"))
    return float(roc_auc_score(y_true, scores, multi_class="ovr", average="macro"))


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset with every class kept in proportion (at least
    one image per class)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keys = labels if labels.ndim == 1 else labels.argmax(axis=1)
    chosen = []
    for value in np.unique(keys):
        members = np.flatnonzero(keys == value)
        take = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, take, replace=False))
    return np.sort(np.concatenate(chosen))


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced weights n / (k * n_c): each class contributes equally to the loss."""
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): float(len(labels) / (len(values) * c)) for v, c in zip(values, counts)}


# Pixels per prediction batch: 256 images at 64 x 64 x 1. Eager calls on big inputs hold
# their activations: fine-tuning notebook 09's MobileNetV3-Small (64 px RGB) peaked at 1.66 GB
# with validation batches of 256 and 1.32 GB with 64. 28 px models keep 256.
PREDICT_PIXELS = 256 * 64 * 64


def predict_batch_size(config: TrainConfig) -> int:
    """Batch size for :func:`predict_scores`: at most 256 images and :data:`PREDICT_PIXELS` pixels."""
    height, width, channels = config.image_shape
    return max(1, min(256, PREDICT_PIXELS // (height * width * channels)))


def predict_scores(model: keras.Model, images: np.ndarray, config: TrainConfig, batch_size: int | None = None) -> np.ndarray:
    """Model outputs for raw MedMNIST images, through the same resizing and channel
    handling as training (1-D for binary models). ``batch_size`` defaults to
    :func:`predict_batch_size` (memory, not speed, sets it)."""
    batch_size = batch_size or predict_batch_size(config)
    ds = make_dataset(images, np.zeros(len(images), np.float32), batch_size=batch_size,
                      image_size=config.input_size, channels=config.channels, cache=False)
    scores = np.concatenate([model(batch, training=False).numpy() for batch, _ in ds])
    return scores[:, 0] if scores.shape[1] == 1 else scores


class _Tracker(keras.callbacks.Callback):
    """Validation AUC at every check, best weights kept in memory, early stopping,
    a time budget, and one printed line per epoch. The clock stops while validating,
    so ``train_seconds`` is training time only."""

    def __init__(self, config: TrainConfig, x_val, y_val, kind: str, n_train: int, verbose: bool):
        super().__init__()
        self.config, self.x_val, self.y_val, self.kind = config, x_val, y_val, kind
        self.n_train, self.verbose = n_train, verbose
        self.train_seconds, self.steps, self.images = 0.0, 0, 0
        self.best_auc, self.best_epoch, self.best_weights, self.stale = -np.inf, 0, None, 0
        self.epochs: list[dict] = []
        self.evals: list[dict] = []
        self._started = None
        self.epoch = 0

    def _pause(self) -> None:
        self.train_seconds += time.perf_counter() - self._started

    def _resume(self) -> None:
        self._started = time.perf_counter()

    def _evaluate(self) -> float:
        auc = auc_score(self.y_val, predict_scores(self.model, self.x_val, self.config), self.kind)
        self.evals.append({"step": self.steps, "epoch": self.epoch + self.steps_in_epoch / self.steps_per_epoch,
                           "train_seconds": round(self.train_seconds, 3), "val_auc": auc})
        if auc > self.best_auc:
            self.best_auc, self.best_epoch = auc, self.epoch + 1
            self.best_weights = [w.copy() for w in self.model.get_weights()]
        if self.config.stop_at_auc is not None and auc >= self.config.stop_at_auc:
            self.model.stop_training = True
        return auc

    def on_train_begin(self, logs=None):
        self.steps_per_epoch = int(np.ceil(self.n_train / self.config.batch_size))
        self._resume()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.steps_in_epoch = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.steps_in_epoch += 1
        done_before = (self.steps_in_epoch - 1) * self.config.batch_size
        self.images += min(self.config.batch_size, self.n_train - done_before)
        every = self.config.eval_every
        if every and self.steps % every == 0 and self.steps_in_epoch < self.steps_per_epoch:
            self._pause()
            auc = self._evaluate()
            if self.verbose:
                print(f"  step {self.steps:5d}  val AUC {auc:.4f}  {self.train_seconds:7.1f} s", flush=True)
            self._resume()
        if self.config.max_seconds and self.train_seconds + time.perf_counter() - self._started > self.config.max_seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self._pause()
        auc = self._evaluate()
        improved = self.best_epoch == epoch + 1
        self.stale = 0 if improved else self.stale + 1
        row = {"epoch": epoch + 1, "loss": float(logs["loss"]), "val_auc": auc,
               "train_seconds": round(self.train_seconds, 3)}
        self.epochs.append(row)
        if self.verbose:
            print(f"epoch {epoch + 1:3d}  loss {row['loss']:.4f}  val AUC {auc:.4f}"
                  f"{' *' if improved else '  '}  {self.train_seconds:7.1f} s", flush=True)
        if self.config.patience is not None and self.stale >= self.config.patience:
            self.model.stop_training = True
        self._resume()

    def on_train_end(self, logs=None):
        self._pause()


def _optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            0.0, max(total_steps, 1), alpha=0.01, warmup_target=config.learning_rate,
            warmup_steps=max(total_steps // 20, 1))
    elif config.schedule == "constant":
        rate = config.learning_rate
    else:
        raise ValueError(f"schedule must be 'cosine' or 'constant', not {config.schedule!r}")
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    raise ValueError(f"optimizer must be 'adamw' or 'adam', not {config.optimizer!r}")


def train(
    config: TrainConfig,
    *,
    strategy: tf.distribute.Strategy | None = None,
    verbose: bool = True,
    data=None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and return the best-validation model.

    ``strategy`` (default: the one-device default strategy) builds and compiles the model
    in its scope, so the same call runs data-parallel on several GPUs with
    ``tf.distribute.MirroredStrategy()``. ``data`` may pass an already loaded
    :class:`helpers.datasets.MedMNIST` to skip loading.
    """
    set_seed(config.seed)
    dataset = data if data is not None else load_medmnist(config.dataset, config.size)
    kind = task_kind(dataset.info)
    x_train, y_train = dataset.split("train")
    keep = stratified_subset(y_train, config.train_fraction, config.seed)
    x_train, y_train = x_train[keep], y_train[keep]
    x_val, y_val = dataset.split("val")
    target_dtype = np.float32 if kind != "multi-class" else np.int64
    augment = augmentation(config.seed, strength=config.augment) if config.augment > 0 else None
    ds = make_dataset(x_train, y_train.astype(target_dtype), batch_size=config.batch_size, shuffle=True,
                      augment=augment, seed=config.seed, image_size=config.input_size, channels=config.channels)
    steps_per_epoch = int(np.ceil(len(x_train) / config.batch_size))
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(config.model, config.image_shape, n_outputs(dataset.info), **config.model_options)
        loss = {"binary": "binary_crossentropy", "multi-label": "binary_crossentropy",
                "multi-class": "sparse_categorical_crossentropy"}[kind]
        model.compile(optimizer=_optimizer(config, steps_per_epoch * config.epochs), loss=loss)
    weights = class_weights(y_train) if config.class_weight and kind != "multi-label" else None
    tracker = _Tracker(config, x_val, y_val, kind, len(x_train), verbose)
    model.fit(ds, epochs=config.epochs, callbacks=[tracker], class_weight=weights, verbose=0, shuffle=False)
    model.set_weights(tracker.best_weights)
    return TrainResult(
        model=model, config=config,
        history={"epochs": tracker.epochs, "evals": tracker.evals},
        train_seconds=tracker.train_seconds, best_val_auc=float(tracker.best_auc),
        best_epoch=tracker.best_epoch,
        images_per_second=tracker.images / max(tracker.train_seconds, 1e-9),
    )


def cache_path(config: TrainConfig) -> Path:
    """Folder of a cached model: ``.cache/models/<model>-<dataset>-<key>``."""
    return model_cache_dir() / f"{config.model}-{config.dataset}-{config.key()}"


def save_cached(folder: Path, model: keras.Model, meta: dict) -> Path:
    """Write ``model.keras`` and ``result.json`` into ``folder`` atomically (a temporary
    folder renamed into place), so an interrupted save never leaves a half-written entry."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder.parent))
    try:
        model.save(staging / "model.keras")
        (staging / "result.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_cached(folder: Path) -> tuple[keras.Model, dict] | None:
    """``(model, meta)`` from a cache entry, or None if there is none."""
    if not ((folder / "result.json").is_file() and (folder / "model.keras").is_file()):
        return None
    meta = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    return keras.models.load_model(folder / "model.keras", compile=False), meta


def cached_model(name: str, params: dict, fit, *, verbose: bool = True) -> tuple[keras.Model, dict, bool]:
    """Generic model cache for models outside the classification recipe (U-Net,
    progression model): ``fit()`` returns ``(model, meta)`` and runs only when
    ``.cache/models/<name>-<key of params>`` does not exist. Returns
    ``(model, meta, from_cache)``."""
    folder = model_cache_dir() / f"{name}-{params_key(params)}"
    found = load_cached(folder)
    if found is not None:
        if verbose:
            print(f"loaded {name} from the model cache ({folder.name})")
        return found[0], found[1], True
    model, meta = fit()
    save_cached(folder, model, meta)
    return model, meta, False


def load_or_train(
    config: TrainConfig, *, strategy: tf.distribute.Strategy | None = None, verbose: bool = True, data=None
) -> TrainResult:
    """The cached result for ``config`` if there is one, else :func:`train` and cache it."""
    folder = cache_path(config)
    found = load_cached(folder)
    if found is not None:
        if verbose:
            print(f"loaded {config.model} on {config.dataset} from the model cache ({folder.name})")
        model, meta = found
        return TrainResult(model=model, config=config, history=meta["history"],
                           train_seconds=meta["train_seconds"], best_val_auc=meta["best_val_auc"],
                           best_epoch=meta["best_epoch"], images_per_second=meta["images_per_second"],
                           from_cache=True)
    result = train(config, strategy=strategy, verbose=verbose, data=data)
    save_cached(folder, result.model, {
        "config": dataclasses.asdict(config), "history": result.history, "train_seconds": result.train_seconds,
        "best_val_auc": result.best_val_auc, "best_epoch": result.best_epoch,
        "images_per_second": result.images_per_second})
    return result
