"""Training and applying the U-Net lesion segmenter on synthetic phantoms (or on your own
image/mask pairs). Taught in ``notebooks/06_segmentation_detection.ipynb``.

The phantom splits are generated from distinct seeds, so no phantom appears in two
splits; the trained model is cached by :func:`helpers.train.cache.cached_model`, keyed by
every parameter including those of the data.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from helpers.data.phantoms import PhantomSet, fingerprint, phantom_splits
from helpers.models.losses import dice_bce_loss, dice_loss, soft_dice
from helpers.models.unet import unet
from helpers.runtime import set_seed
from helpers.train.cache import cached_model
from helpers.train.engine import fit

DEFAULTS = {
    "n_train": 1200,
    "n_val": 200,
    "n_test": 300,
    "size": 64,
    "lesion_fraction": 0.7,
    "phantom_seed": 100,
    "depth": 3,
    "width": 16,
    "epochs": 12,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "seed": 0,
}


#: Loss names :func:`train_unet` understands besides the Keras ones.
LOSSES: dict[str, Callable] = {"dice_bce": dice_bce_loss, "dice": dice_loss}


def predict_masks(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Lesion probability maps (N, H, W) for float images (N, H, W) or (N, H, W, 1)."""
    x = images[..., None] if images.ndim == 3 else images
    return model.predict(x.astype(np.float32), batch_size=batch_size, verbose=0)[..., 0]


def train_unet(
    params: dict,
    data: dict[str, PhantomSet],
    verbose: bool = True,
    *,
    loss: str | Callable = "dice_bce",
) -> tuple[keras.Model, dict]:
    """Fit a U-Net with Adam and a cosine schedule; keep the epoch with the best validation
    soft Dice. Returns ``(model, meta)`` with the per-epoch history.

    ``loss``: ``"dice_bce"`` (the default, :func:`helpers.models.losses.dice_bce_loss`),
    ``"dice"`` (soft Dice alone), or any Keras loss name or callable, e.g.
    ``"binary_crossentropy"`` for per-pixel cross-entropy alone. It is an argument rather
    than a key of ``params``, so the cache key of :func:`load_or_train_unet` is unchanged;
    that function always trains with the default."""
    p = {**DEFAULTS, **params}
    set_seed(p["seed"])
    model = unet((p["size"], p["size"], 1), depth=p["depth"], width=p["width"])
    steps = int(np.ceil(len(data["train"]) / p["batch_size"])) * p["epochs"]
    schedule = keras.optimizers.schedules.CosineDecay(p["learning_rate"], steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=LOSSES.get(loss, loss))
    x_train = data["train"].images[..., None]
    y_train = data["train"].masks[..., None].astype(np.float32)
    ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .cache()
        .shuffle(len(x_train), seed=p["seed"])
        .batch(p["batch_size"])
        .prefetch(tf.data.AUTOTUNE)
    )
    x_val = data["val"].images[..., None]
    y_val = data["val"].masks[..., None].astype(np.float32)

    def val_soft_dice(m: keras.Model) -> float:
        return float(np.mean(soft_dice(y_val, m.predict(x_val, batch_size=64, verbose=0))))

    result = fit(
        model,
        ds,
        epochs=p["epochs"],
        score=val_soft_dice,
        name="val soft Dice",
        n_train=len(x_train),
        batch_size=p["batch_size"],
        verbose=verbose,
        shuffle=False,
    )
    return model, {
        "params": p,
        "history": result.epochs,
        "train_seconds": result.train_seconds,
        "best_val_soft_dice": result.best_score,
    }


def load_or_train_unet(
    params: dict, data: dict[str, PhantomSet] | None = None, verbose: bool = True
):
    """Cached :func:`train_unet`: ``(model, meta, from_cache)``. ``data`` defaults to
    :func:`helpers.data.phantoms.phantom_splits` of the same parameters."""
    p = {**DEFAULTS, **params}
    return cached_model(
        "unet",
        p,
        lambda: train_unet(p, data or phantom_splits(p), verbose),
        data_fingerprint=fingerprint(),
        verbose=verbose,
    )
