"""Training and applying the U-Net lesion segmenter on synthetic phantoms (or on your own
image/mask pairs). Taught in ``notebooks/06_segmentation_detection.ipynb``.

The phantom splits are generated from distinct seeds, so no phantom appears in two
splits; the trained model is cached by :func:`helpers.training.cached_model`, keyed by
every parameter including those of the data.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from helpers.config import set_seed
from helpers.losses import dice_bce_loss, soft_dice
from helpers.models import unet
from helpers.synthetic import PhantomSet, make_phantom_splits
from helpers.training import cached_model

DEFAULTS = {"n_train": 1200, "n_val": 200, "n_test": 300, "size": 64, "lesion_fraction": 0.7,
            "phantom_seed": 100, "depth": 3, "width": 16, "epochs": 12, "batch_size": 32,
            "learning_rate": 2e-3, "seed": 0}


def phantom_splits(params: dict) -> dict[str, PhantomSet]:
    """Train/val/test phantom sets from three different seeds (no phantom is shared)."""
    p = {**DEFAULTS, **params}
    return make_phantom_splits({split: p[f"n_{split}"] for split in ("train", "val", "test")}, p["size"],
                               p["phantom_seed"], p["lesion_fraction"])


def predict_masks(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Lesion probability maps (N, H, W) for float images (N, H, W) or (N, H, W, 1)."""
    x = images[..., None] if images.ndim == 3 else images
    return model.predict(x.astype(np.float32), batch_size=batch_size, verbose=0)[..., 0]


def train_unet(params: dict, data: dict[str, PhantomSet], verbose: bool = True) -> tuple[keras.Model, dict]:
    """Fit a U-Net with Dice + BCE, Adam and a cosine schedule; keep the epoch with the
    best validation soft Dice. Returns ``(model, meta)`` with the per-epoch history."""
    p = {**DEFAULTS, **params}
    set_seed(p["seed"])
    model = unet((p["size"], p["size"], 1), depth=p["depth"], width=p["width"])
    steps = int(np.ceil(len(data["train"]) / p["batch_size"])) * p["epochs"]
    schedule = keras.optimizers.schedules.CosineDecay(p["learning_rate"], steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=dice_bce_loss)
    x_train = data["train"].images[..., None]
    y_train = data["train"].masks[..., None].astype(np.float32)
    ds = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).cache()
          .shuffle(len(x_train), seed=p["seed"]).batch(p["batch_size"]).prefetch(tf.data.AUTOTUNE))
    x_val = data["val"].images[..., None]
    y_val = data["val"].masks[..., None].astype(np.float32)
    history, best, best_weights, seconds = [], -1.0, None, 0.0
    for epoch in range(p["epochs"]):
        start = time.perf_counter()
        fit = model.fit(ds, epochs=1, verbose=0, shuffle=False)
        seconds += time.perf_counter() - start
        val_dice = float(np.mean(soft_dice(y_val, model.predict(x_val, batch_size=64, verbose=0))))
        history.append({"epoch": epoch + 1, "loss": float(fit.history["loss"][-1]), "val_soft_dice": val_dice,
                        "train_seconds": round(seconds, 2)})
        if val_dice > best:
            best, best_weights = val_dice, model.get_weights()
        if verbose:
            print(f"epoch {epoch + 1:3d}  loss {history[-1]['loss']:.4f}  val soft Dice {val_dice:.4f}"
                  f"{' *' if val_dice == best else '  '}  {seconds:6.1f} s", flush=True)
    model.set_weights(best_weights)
    return model, {"params": p, "history": history, "train_seconds": seconds, "best_val_soft_dice": best}


def load_or_train_unet(params: dict, data: dict[str, PhantomSet] | None = None, verbose: bool = True):
    """Cached :func:`train_unet`: ``(model, meta, from_cache)``. ``data`` defaults to
    :func:`phantom_splits` of the same parameters."""
    p = {**DEFAULTS, **params}
    return cached_model("unet", p, lambda: train_unet(p, data or phantom_splits(p), verbose), verbose=verbose)
