"""The training engine: one fit loop for every Keras model of the collection.

:func:`fit` runs ``model.fit`` with a :class:`Monitor` callback that scores the model on
validation data every epoch (or every N steps), keeps the best weights (or the last, when
asked), stops early after ``patience`` checks without improvement or when a time budget or
target score is reached, and prints one progress line per check in one format, readable in
a notebook and in a log::

    epoch   3/20  loss 0.2214  val AUC 0.9712 *   14.2 s

The clock stops while validating, so ``train_seconds`` is training time only.
:func:`train` is the classification recipe on a MedMNIST dataset (``notebooks/03_training``
teaches it); the U-Net (06), the progression model (07), the phantom classifier (05) and the
scaling grids (09) call :func:`fit` too. Every choice (best epoch, early stopping) is made on
the validation split; the test split is never touched here. The model cache on top of it is
:mod:`helpers.train.cache`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from helpers.data.medmnist import MedMNIST, load_medmnist
from helpers.data.preprocess import augmentation, make_dataset
from helpers.evaluate.metrics import auc_score
from helpers.models.backbones import BACKBONES, last_status
from helpers.models.registry import build_model
from helpers.runtime import set_seed
from helpers.train.config import TrainConfig


@dataclass
class FitResult:
    """What :func:`fit` saw: per-epoch rows, every validation check, the best check."""

    epochs: list[dict] = field(default_factory=list)  # epoch, loss, score, train_seconds
    evals: list[dict] = field(default_factory=list)  # step, epoch, train_seconds, score
    train_seconds: float = 0.0
    best_score: float = float("nan")
    best_epoch: int = 0
    images_per_second: float = 0.0


class Monitor(keras.callbacks.Callback):
    """Validation ``score(model)`` at every check, best weights kept in memory, early
    stopping, a time budget, a target score, and one printed line per epoch.

    A check that equals the best score so far counts as the best (and resets the patience):
    when the validation AUC saturates (1.0 on an easy task), the latest, longest-trained
    weights are kept rather than the first epoch that reached it, which has not yet learnt
    calibrated scores."""

    def __init__(
        self,
        score: Callable[[keras.Model], float],
        *,
        n_train: int,
        batch_size: int,
        epochs: int,
        name: str = "val AUC",
        mode: str = "max",
        patience: int | None = None,
        max_seconds: float | None = None,
        stop_at: float | None = None,
        eval_every: int | None = None,
        restore_best: bool = True,
        verbose: bool = True,
        print_every: int = 1,
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        self.score, self.name, self.sign = score, name, 1.0 if mode == "max" else -1.0
        self.n_train, self.batch_size, self.n_epochs = n_train, batch_size, epochs
        self.patience, self.max_seconds, self.stop_at = patience, max_seconds, stop_at
        self.eval_every, self.restore_best = eval_every, restore_best
        self.verbose, self.print_every = verbose, print_every
        self.result = FitResult()
        self.steps = self.images = self.stale = self.epoch = self.steps_in_epoch = 0
        self.steps_per_epoch = max(1, int(np.ceil(n_train / batch_size)))
        self.best_weights, self._started = None, 0.0

    def _elapsed(self) -> float:
        return self.result.train_seconds + time.perf_counter() - self._started

    def _pause(self) -> None:
        self.result.train_seconds = self._elapsed()

    def _resume(self) -> None:
        self._started = time.perf_counter()

    def _check(self) -> tuple[float, bool]:
        value = float(self.score(self.model))
        r = self.result
        r.evals.append(
            {
                "step": self.steps,
                "epoch": self.epoch + self.steps_in_epoch / self.steps_per_epoch,
                "train_seconds": round(r.train_seconds, 3),
                "score": value,
            }
        )
        improved = not np.isfinite(r.best_score) or self.sign * value >= self.sign * r.best_score
        if improved:
            r.best_score, r.best_epoch = value, self.epoch + 1
            if self.restore_best:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
        if self.stop_at is not None and self.sign * value >= self.sign * self.stop_at:
            self.model.stop_training = True
        return value, improved

    def on_train_begin(self, logs=None):
        self._resume()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.steps_in_epoch = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.steps_in_epoch += 1
        self.images += min(
            self.batch_size, self.n_train - (self.steps_in_epoch - 1) * self.batch_size
        )
        every = self.eval_every
        if every and self.steps % every == 0 and self.steps_in_epoch < self.steps_per_epoch:
            self._pause()
            value, _ = self._check()
            if self.verbose:
                print(
                    f"  step {self.steps:5d}  {self.name} {value:.4f}  "
                    f"{self.result.train_seconds:7.1f} s",
                    flush=True,
                )
            self._resume()
        if self.max_seconds and self._elapsed() > self.max_seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self._pause()
        value, improved = self._check()
        self.stale = 0 if improved else self.stale + 1
        loss = float((logs or {}).get("loss", float("nan")))
        self.result.epochs.append(
            {
                "epoch": epoch + 1,
                "loss": loss,
                "score": value,
                "train_seconds": round(self.result.train_seconds, 3),
            }
        )
        if self.patience is not None and self.stale >= self.patience:
            self.model.stop_training = True
        if self.verbose and (
            (epoch + 1) % self.print_every == 0
            or self.model.stop_training
            or epoch + 1 == self.n_epochs
        ):
            print(
                f"epoch {epoch + 1:3d}/{self.n_epochs}  loss {loss:.4f}  {self.name} {value:.4f}"
                f"{' *' if improved else '  '}  {self.result.train_seconds:7.1f} s",
                flush=True,
            )
        self._resume()

    def on_train_end(self, logs=None):
        self._pause()
        r = self.result
        r.images_per_second = self.images / max(r.train_seconds, 1e-9)
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def fit(
    model: keras.Model,
    x,
    y=None,
    *,
    epochs: int,
    score: Callable[[keras.Model], float],
    n_train: int,
    batch_size: int,
    name: str = "val AUC",
    mode: str = "max",
    patience: int | None = None,
    max_seconds: float | None = None,
    stop_at: float | None = None,
    eval_every: int | None = None,
    restore_best: bool = True,
    verbose: bool = True,
    print_every: int = 1,
    **fit_options,
) -> FitResult:
    """Train a compiled ``model`` on ``x`` (a ``tf.data.Dataset``, or arrays with ``y``)
    with a :class:`Monitor`; returns its :class:`FitResult`. The model ends with the best
    validation weights (``restore_best=True``) or the last ones. ``fit_options`` go to
    ``model.fit`` (``class_weight``, ``shuffle``; ``batch_size`` is passed for arrays)."""
    monitor = Monitor(
        score,
        n_train=n_train,
        batch_size=batch_size,
        epochs=epochs,
        name=name,
        mode=mode,
        patience=patience,
        max_seconds=max_seconds,
        stop_at=stop_at,
        eval_every=eval_every,
        restore_best=restore_best,
        verbose=verbose,
        print_every=print_every,
    )
    if not isinstance(x, tf.data.Dataset):
        fit_options["batch_size"] = batch_size
    model.fit(x, y, epochs=epochs, callbacks=[monitor], verbose=0, **fit_options)
    return monitor.result


@dataclass
class TrainResult:
    """A trained classifier (best validation weights) and what happened on the way."""

    model: keras.Model
    config: TrainConfig
    history: dict  # "epochs": per-epoch rows; "evals": every validation check
    train_seconds: float  # training time, validation excluded
    best_val_auc: float
    best_epoch: int
    images_per_second: float
    from_cache: bool = False
    notes: dict = field(default_factory=dict)  # e.g. "initialisation" of a backbone

    def time_to_auc(self, target: float) -> float | None:
        """Training seconds until validation AUC first reached ``target`` (None: never)."""
        return time_to_auc(self.history["evals"], target)


def time_to_auc(evals: list[dict], target: float) -> float | None:
    """First ``train_seconds`` at which the validation score reached ``target``."""
    for row in evals:
        if row["score"] >= target:
            return row["train_seconds"]
    return None


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset with every class kept in proportion
    (scikit-learn's stratified split; multi-label rows are stratified by their first label)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(labels))
    keys = labels if labels.ndim == 1 else labels.argmax(axis=1)
    take = max(int(round(fraction * len(keys))), len(np.unique(keys)))
    chosen, _ = train_test_split(
        np.arange(len(keys)), train_size=take, stratify=keys, random_state=seed
    )
    return np.sort(chosen)


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced weights n / (k * n_c) (scikit-learn): each class contributes equally to the loss."""
    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights)}


def restore_prior(model: keras.Model, weights: dict[int, float]) -> np.ndarray:
    """Shift the output layer's bias so that a model trained with class ``weights`` predicts
    the training split's class frequencies again, and return the shift (per output unit).

    Weighting class c by w_c makes the loss's minimiser q(c | x) proportional to
    w_c p(c | x), so p(c | x) is proportional to q(c | x) / w_c: subtract log w_c from the
    logit of c (softmax), or add log(w_0 / w_1) to the one logit of a sigmoid unit (binary).
    For a binary model the ranking of the images, hence the AUC, is unchanged; for a softmax
    over several classes the one-vs-rest scores can reorder a little, so their AUC can move.
    What moves in every case is the probability and the arg-max class (MedMNIST's ACC). This
    is the post-hoc "logit adjustment" of Saerens et al. (2002) and Menon et al. (2021). The
    improved recipe applies it after training, chosen on validation: on the 28 px models of 3
    seeds it raised BreastMNIST's mean validation ACC by about 0.05 and left PneumoniaMNIST's
    within 0.001 (notebook 03 prints both per seed, with and without the shift, on validation
    and on test)."""
    output = model.layers[-1]
    if not isinstance(output, keras.layers.Dense) or not output.use_bias:
        raise ValueError(
            f"restore_prior needs a Dense output layer with a bias, not {output.name!r} "
            f"({type(output).__name__})"
        )
    log_w = np.log([weights[c] for c in sorted(weights)])
    units = output.units
    if units == 1 and len(log_w) == 2:
        shift = np.array([log_w[0] - log_w[1]])
    elif units == len(log_w):
        shift = -(log_w - log_w.mean())  # a constant shift of every logit changes nothing
    else:
        raise ValueError(f"{len(log_w)} class weights for an output layer of {units} units")
    kernel, bias = output.get_weights()
    output.set_weights([kernel, bias + shift.astype(bias.dtype)])
    return shift


# Pixels per prediction batch: 64 images at 64 x 64 x 1. Eager calls on big inputs hold
# their activations (oneDNN keeps the memory): notebook 10 on BreastMNIST-64 scoring its
# corrupted sets reached 2.38 GB with batches of 256 images and 1.19 GB with 64; fine-tuning
# 09's MobileNetV3-Small (64 px RGB) peaked at 1.66 GB with batches of 256 and 1.32 GB with 64.
# 28 px gray models keep 256 and 256 px ones PREDICT_MIN_BATCH.
PREDICT_PIXELS = 64 * 64 * 64
PREDICT_MIN_BATCH = 16  # fewer images per call and scoring is bound by per-call overhead


def predict_batch_size(config: TrainConfig) -> int:
    """Batch size for :func:`predict_scores`: :data:`PREDICT_PIXELS` pixels, between
    :data:`PREDICT_MIN_BATCH` and 256 images."""
    height, width, channels = config.image_shape
    return max(PREDICT_MIN_BATCH, min(256, PREDICT_PIXELS // (height * width * channels)))


def predict_scores(
    model: keras.Model, images: np.ndarray, config: TrainConfig, batch_size: int | None = None
) -> np.ndarray:
    """Model outputs for raw MedMNIST images, through the same resizing and channel
    handling as training (1-D for binary models). ``batch_size`` defaults to
    :func:`predict_batch_size` (memory, not speed, sets it)."""
    batch_size = batch_size or predict_batch_size(config)
    ds = make_dataset(
        images,
        np.zeros(len(images), np.float32),
        batch_size=batch_size,
        image_size=config.input_size,
        channels=config.channels,
        cache=False,
    )
    scores = np.concatenate([model(batch, training=False).numpy() for batch, _ in ds])
    return scores[:, 0] if scores.shape[1] == 1 else scores


def optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """The optimizer and learning-rate schedule a :class:`TrainConfig` names."""
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            0.0,
            max(total_steps, 1),
            alpha=0.01,
            warmup_target=config.learning_rate,
            warmup_steps=max(total_steps // 20, 1),
        )
    elif config.schedule == "constant":
        rate = config.learning_rate
    else:
        raise ValueError(f"schedule must be 'cosine' or 'constant', not {config.schedule!r}")
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    raise ValueError(f"optimizer must be 'adamw' or 'adam', not {config.optimizer!r}")


LOSSES = {
    "binary": "binary_crossentropy",
    "multi-label": "binary_crossentropy",
    "multi-class": "sparse_categorical_crossentropy",
    "ordinal": "sparse_categorical_crossentropy",
}


def train(
    config: TrainConfig,
    *,
    strategy: tf.distribute.Strategy | None = None,
    verbose: bool = True,
    data: MedMNIST | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and return the best-validation model
    (or the last epoch's, when ``config.keep == "last"``).

    ``strategy`` (default: the one-device default strategy) builds and compiles the model
    in its scope, so the same call runs data-parallel on several GPUs with
    ``tf.distribute.MirroredStrategy()``. ``data`` may pass an already loaded
    :class:`helpers.data.medmnist.MedMNIST` to skip loading.
    """
    set_seed(config.seed)
    dataset = data if data is not None else load_medmnist(config.dataset, config.size)
    kind = dataset.info.task_kind
    x_train, y_train = dataset.split("train")
    keep = stratified_subset(y_train, config.train_fraction, config.seed)
    x_train, y_train = x_train[keep], y_train[keep]
    x_val, y_val = dataset.split("val")
    target_dtype = np.float32 if LOSSES[kind] == "binary_crossentropy" else np.int64
    augment = augmentation(config.seed, strength=config.augment) if config.augment > 0 else None
    ds = make_dataset(
        x_train,
        y_train.astype(target_dtype),
        batch_size=config.batch_size,
        shuffle=True,
        augment=augment,
        seed=config.seed,
        image_size=config.input_size,
        channels=config.channels,
    )
    steps_per_epoch = int(np.ceil(len(x_train) / config.batch_size))
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(
            config.model,
            config.image_shape,
            dataset.info.n_outputs,
            multi_label=kind == "multi-label",
            **config.model_options,
        )
        model.compile(
            optimizer=optimizer(config, steps_per_epoch * config.epochs), loss=LOSSES[kind]
        )
    notes = {"initialisation": last_status()} if config.model in BACKBONES else {}
    weights = class_weights(y_train) if config.class_weight and kind != "multi-label" else None
    result = fit(
        model,
        ds,
        epochs=config.epochs,
        n_train=len(x_train),
        batch_size=config.batch_size,
        score=lambda m: auc_score(y_val, predict_scores(m, x_val, config), kind),
        patience=config.patience,
        max_seconds=config.max_seconds,
        stop_at=config.stop_at_auc,
        eval_every=config.eval_every,
        restore_best=config.keep == "best",
        verbose=verbose,
        class_weight=weights,
        shuffle=False,
    )
    if weights is not None:
        notes["prior_shift"] = [float(v) for v in restore_prior(model, weights)]
    best_val_auc = result.best_score if config.keep == "best" else result.epochs[-1]["score"]
    best_epoch = result.best_epoch if config.keep == "best" else result.epochs[-1]["epoch"]
    return TrainResult(
        model=model,
        config=config,
        history={"epochs": result.epochs, "evals": result.evals},
        train_seconds=result.train_seconds,
        best_val_auc=float(best_val_auc),
        best_epoch=best_epoch,
        images_per_second=result.images_per_second,
        notes=notes,
    )
