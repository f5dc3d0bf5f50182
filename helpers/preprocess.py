"""Preprocessing: scaling, standardising, intensity windowing, resizing, augmentation
and tf.data input pipelines.

Taught in ``notebooks/01_data.ipynb``; every training notebook feeds its models through
:func:`make_dataset`, so all models see the same pipeline. TensorFlow is imported only
by the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from helpers.imagefiles import apply_window

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = ["to_float", "standardize", "apply_window", "resize", "augmentation", "make_dataset"]


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"expected (N, H, W) or (N, H, W, C) images, got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if np.issubdtype(images.dtype, np.floating):
        return images.astype(np.float32, copy=False)
    raise ValueError(f"expected uint8 or float images, got {images.dtype}")


def standardize(
    images: np.ndarray, mean: float | None = None, std: float | None = None
) -> tuple[np.ndarray, float, float]:
    """Zero mean, unit variance. Pass the *training* split's ``mean``/``std`` when
    transforming validation and test data, so no statistic is learnt from them.
    Returns ``(standardised, mean, std)``."""
    x = np.asarray(images, dtype=np.float32)
    mean = float(x.mean()) if mean is None else float(mean)
    std = float(x.std()) if std is None else float(std)
    if std <= 0:
        raise ValueError("standard deviation is zero: a constant image set cannot be standardised")
    return (x - mean) / std, mean, std


def resize(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a float batch (N, H, W, C) with antialiased bilinear interpolation."""
    import tensorflow as tf

    hw = (size, size) if isinstance(size, int) else tuple(size)
    x = to_float(images)
    if x.shape[1:3] == hw:
        return x
    return tf.image.resize(x, hw, method="bilinear", antialias=True).numpy()


def augmentation(
    seed: int = 0,
    *,
    rotation: float = 0.04,
    translation: float = 0.08,
    zoom: float = 0.10,
    contrast: float = 0.15,
    flip: bool = False,
    strength: float = 1.0,
) -> "keras.Sequential":
    """Keras augmentation layers (active only with ``training=True``).

    Defaults suit chest X-rays: small rotations, shifts and zooms, mild contrast
    changes, and *no* horizontal flip (the heart is on the left; a flipped film is a
    different, rare anatomy: situs inversus). Rotation is a fraction of a full turn.
    ``strength`` scales all four magnitudes at once (the ``augment`` knob of training).
    """
    import keras

    rotation, translation, zoom, contrast = (strength * v for v in (rotation, translation, zoom, contrast))

    layers = [
        keras.layers.RandomRotation(rotation, fill_mode="nearest", seed=seed),
        keras.layers.RandomTranslation(translation, translation, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=seed + 2),
        keras.layers.RandomContrast(contrast, seed=seed + 3),
    ]
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=seed + 4))
    return keras.Sequential(layers, name="augmentation")


def model_input(images, image_size: int | None = None, channels: int | None = None):
    """The last preprocessing step before a model, shared by training
    (:func:`make_dataset`) and deployment (:mod:`helpers.predict`): float images in
    [0, 1] (N, H, W, C) resized to ``image_size`` square (bilinear, antialiased when
    shrinking, so a 2048 px file becomes a faithful 28 px image) and converted to
    ``channels`` (gray repeated to 3; RGB to luminance). Returns a float32 tensor."""
    import tensorflow as tf

    x = tf.convert_to_tensor(images, dtype=tf.float32)
    if x.shape.rank != 4:
        raise ValueError(f"expected a batch (N, H, W, C), got shape {tuple(x.shape)}")
    if image_size is not None and (x.shape[1] != image_size or x.shape[2] != image_size):
        x = tf.image.resize(x, (image_size, image_size), method="bilinear", antialias=True)
    have = x.shape[-1]
    if channels is not None and have != channels:
        if have == 1:
            x = tf.repeat(x, channels, axis=-1)
        elif have == 3 and channels == 1:
            x = tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114], tf.float32), axis=-1, keepdims=True)
        else:
            raise ValueError(f"cannot convert {have} channels to {channels}")
    return x


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    augment: "keras.Layer | None" = None,
    seed: int = 0,
    cache: bool = True,
    image_size: int | None = None,
    channels: int | None = None,
) -> "tf.data.Dataset":
    """A tf.data pipeline: slices -> cache -> shuffle (seeded, reshuffled each epoch)
    -> batch -> augment -> resize -> channels -> prefetch.

    Images are scaled to float [0, 1] first and kept at their stored size in memory;
    ``image_size`` resizes each batch on the fly (so 256 px training never holds the
    whole set at 256 px), and ``channels=3`` repeats a gray channel for RGB-input
    models. Deterministic element order, so seeded runs repeat exactly."""
    import tensorflow as tf

    x = to_float(images)
    y = np.asarray(labels)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if channels is not None and channels != x.shape[-1] and x.shape[-1] != 1:
        raise ValueError(f"can only repeat a single gray channel, not {x.shape[-1]} channels")
    if (image_size is not None and image_size != x.shape[1]) or (channels is not None and channels != x.shape[-1]):
        ds = ds.map(lambda a, b: (model_input(a, image_size, channels), b),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
