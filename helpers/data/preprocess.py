"""Preprocessing: scaling, standardising, intensity windowing, resizing, augmentation
and tf.data input pipelines.

Taught in ``notebooks/01_data.ipynb``; every training notebook feeds its models through
:func:`make_dataset`, so all models see the same pipeline. TensorFlow is imported only
by the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # pragma: no cover
    import keras  # deferred: the data layer imports TensorFlow only where needed
    import tensorflow as tf  # deferred: the data layer imports TensorFlow only where needed

#: ITU-R BT.601 luma weights: RGB to gray, the one place they are written.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


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


def apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear intensity window: ``center - width/2`` maps to 0, ``center + width/2`` to 1,
    clipped. (Lung window on CT: center -600 HU, width 1500 HU; soft tissue: 40/400.)"""
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    low = center - width / 2.0
    return np.clip((np.asarray(values, dtype=np.float32) - low) / width, 0.0, 1.0).astype(
        np.float32
    )


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) float image -> ``channels`` (1: luminance ITU-R 601, 3: gray repeated)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    have = arr.shape[-1]
    if have == channels:
        return arr
    if channels == 1:
        weights = np.array(LUMA_WEIGHTS, dtype=np.float32)
        return (arr[..., :3] @ weights)[..., None].astype(np.float32)
    return np.repeat(arr[..., :1], 3, axis=-1)


def resize_image(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one float image, (H, W) or (H, W, C), to ``size`` = (height, width) with
    antialiased bilinear interpolation (PIL, per channel, in float precision). For image
    files, masks and heat-maps; batches entering a model go through :func:`model_input`."""
    height, width = size
    arr = np.asarray(arr, dtype=np.float32)
    if arr.shape[:2] == (height, width):
        return arr
    planes = arr[..., None] if arr.ndim == 2 else arr
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(planes[..., c], mode="F").resize(
                    (width, height), Image.Resampling.BILINEAR
                )
            )
            for c in range(planes.shape[-1])
        ],
        axis=-1,
    )
    return resized[..., 0] if arr.ndim == 2 else resized


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch (N, H, W[, C]) to ``size`` square exactly as a model's input is
    resized (:func:`model_input`: bilinear, antialiased); float (N, size, size, C) in [0, 1]."""
    x = to_float(images)
    if x.shape[1:3] == (size, size):
        return x
    return model_input(x, size).numpy()


def augmentation(
    seed: int = 0,
    *,
    rotation: float = 0.04,
    translation: float = 0.08,
    zoom: float = 0.10,
    contrast: float = 0.15,
    flip: bool = False,
    strength: float = 1.0,
) -> keras.Sequential:
    """Keras augmentation layers (active only with ``training=True``).

    Defaults suit chest X-rays: small rotations, shifts and zooms, mild contrast
    changes (each image's deviations from its mean scaled by a factor in
    [1 - contrast, 1 + contrast]), and *no* horizontal flip (the heart is on the left; a
    flipped film is a different, rare anatomy: situs inversus). Rotation is a fraction of
    a full turn.
    ``strength`` scales all four magnitudes at once (the ``augment`` knob of training).
    Inputs are floats in [0, 1] and so are the outputs: contrast changes are clipped to
    [0, 1], and rotation, shift and zoom interpolate between pixels (``fill_mode="nearest"``).
    """
    import keras  # deferred: the data layer imports TensorFlow only where needed

    rotation, translation, zoom, contrast = (
        strength * v for v in (rotation, translation, zoom, contrast)
    )

    layers = [
        keras.layers.RandomRotation(rotation, fill_mode="nearest", seed=seed),
        keras.layers.RandomTranslation(
            translation, translation, fill_mode="nearest", seed=seed + 1
        ),
        keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=seed + 2),
        # value_range: our images are floats in [0, 1]; Keras' default (0, 255) would clip
        # the contrast-adjusted pixels to [0, 255], letting them leave [0, 1]. The factor is
        # given as (lower, upper): Keras 3 turns a single float c into [1, 1 + c] (contrast
        # only ever raised), the pair gives the documented [1 - c, 1 + c].
        keras.layers.RandomContrast((contrast, contrast), value_range=(0.0, 1.0), seed=seed + 3),
    ]
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal", seed=seed + 4))
    return keras.Sequential(layers, name="augmentation")


def model_input(images, image_size: int | None = None, channels: int | None = None):
    """The last preprocessing step before a model, shared by training
    (:func:`make_dataset`) and deployment (:mod:`helpers.deploy.predict`): float images in
    [0, 1] (N, H, W, C) resized to ``image_size`` square (bilinear, antialiased when
    shrinking, so a 2048 px file becomes a faithful 28 px image) and converted to
    ``channels`` (gray repeated to 3; RGB to luminance). Returns a float32 tensor."""
    import tensorflow as tf  # deferred: the data layer imports TensorFlow only where needed

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
            x = tf.reduce_sum(x * tf.constant(LUMA_WEIGHTS, tf.float32), axis=-1, keepdims=True)
        else:
            raise ValueError(f"cannot convert {have} channels to {channels}")
    return x


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of TensorFlow's antialiased bilinear resize along one axis
    (``tf.image.resize(..., "bilinear", antialias=True)``: a triangle kernel widened by the
    shrink factor, pixel centres at half-integers, each row normalised to sum 1)."""
    inv_scale = n_in / n_out
    width = max(inv_scale, 1.0)  # antialiasing: the kernel spans the pixels it averages
    centres = (np.arange(n_out) + 0.5) * inv_scale
    offsets = (np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / width
    weights = np.maximum(0.0, 1.0 - np.abs(offsets))
    return weights / weights.sum(axis=1, keepdims=True)


def model_input_array(
    images: np.ndarray, image_size: int | None = None, channels: int | None = None
) -> np.ndarray:
    """:func:`model_input` in NumPy, without TensorFlow (equal to it within 1e-5; a test
    checks): the predict command uses it for TFLite models, whose interpreter starts in a
    fraction of a second while importing TensorFlow takes several. float32 (N, H, W, C)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"expected a batch (N, H, W, C), got shape {x.shape}")
    if image_size is not None and x.shape[1:3] != (image_size, image_size):
        rows, cols = resize_weights(x.shape[1], image_size), resize_weights(x.shape[2], image_size)
        x = np.einsum("yh,nhwc,xw->nyxc", rows, x, cols)
    have = x.shape[-1]
    if channels is not None and have != channels:
        if have == 1:
            x = np.repeat(x, channels, axis=-1)
        elif have == 3 and channels == 1:
            x = (x * np.asarray(LUMA_WEIGHTS)).sum(axis=-1, keepdims=True)
        else:
            raise ValueError(f"cannot convert {have} channels to {channels}")
    return x.astype(np.float32)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    augment: keras.Layer | None = None,
    seed: int = 0,
    cache: bool = True,
    image_size: int | None = None,
    channels: int | None = None,
) -> tf.data.Dataset:
    """A tf.data pipeline: slices -> cache -> shuffle (seeded, reshuffled each epoch)
    -> batch -> augment -> resize -> channels -> prefetch.

    Images are scaled to float [0, 1] first and kept at their stored size in memory;
    ``image_size`` resizes each batch on the fly (so 256 px training never holds the
    whole set at 256 px), and ``channels=3`` repeats a gray channel for RGB-input
    models. Deterministic element order, so seeded runs repeat exactly."""
    import tensorflow as tf  # deferred: the data layer imports TensorFlow only where needed

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
        ds = ds.map(
            lambda a, b: (augment(a, training=True), b),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    if channels is not None and channels != x.shape[-1] and x.shape[-1] != 1:
        raise ValueError(f"can only repeat a single gray channel, not {x.shape[-1]} channels")
    if (image_size is not None and image_size != x.shape[1]) or (
        channels is not None and channels != x.shape[-1]
    ):
        ds = ds.map(
            lambda a, b: (model_input(a, image_size, channels), b),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.prefetch(tf.data.AUTOTUNE)
