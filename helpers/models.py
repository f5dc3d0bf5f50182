"""Model builders.

``seed_cnn`` is the source article's network, counted layer by layer in
``notebooks/02_cnn_math.ipynb`` and trained in ``03_training``; ``tiny_cnn`` is the Keras
twin of :class:`helpers.cnn_math.TinyCNN` used in ``02_cnn_math`` to check NumPy
training against Keras.
"""

from __future__ import annotations

import keras
from keras import layers


def seed_cnn(
    input_shape: tuple[int, int, int] = (256, 256, 3),
    n_classes: int = 2,
    *,
    global_pool: bool = False,
) -> keras.Sequential:
    """The article's CNN: Conv32-Pool-Conv64-Pool-Conv128-Pool-Flatten-Dense128-Dense
    (3x3 kernels, valid padding, ReLU, 2x2 max pooling). The last layer is softmax over
    ``n_classes``, or one sigmoid unit when ``n_classes == 1``. ``global_pool=True``
    swaps Flatten for global average pooling (what that changes is shown in 02)."""
    head = "sigmoid" if n_classes == 1 else "softmax"
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.GlobalAveragePooling2D() if global_pool else layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(n_classes, activation=head),
        ],
        name="seed_cnn_gap" if global_pool else "seed_cnn",
    )


def tiny_cnn(
    input_shape: tuple[int, int, int] = (12, 12, 1), filters: int = 4, n_classes: int = 2, kernel: int = 3
) -> keras.Sequential:
    """Conv(kernel, filters, valid) -> ReLU -> MaxPool 2 -> Flatten -> Dense(n_classes)
    producing logits (train with ``from_logits=True``)."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(filters, kernel, activation="relu", name="conv"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(n_classes, name="dense"),
        ],
        name="tiny_cnn",
    )
