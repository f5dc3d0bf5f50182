"""The classification CNNs.

``seed_cnn`` is the source article's network, counted layer by layer in
``notebooks/02_cnn_math.ipynb`` and trained in ``03_training``; ``compact_cnn`` is the
improved model of ``03_training``; ``tiny_cnn`` is the Keras twin of
:class:`helpers.models.cnn_math.TinyCNN` used in ``02_cnn_math`` to check NumPy training
against Keras. :func:`helpers.models.registry.build_model` builds them by name.
"""

from __future__ import annotations

import keras
from keras import layers

from helpers.models.heads import output_activation


def seed_cnn(
    input_shape: tuple[int, int, int] = (256, 256, 3),
    n_classes: int = 2,
    *,
    global_pool: bool = False,
    multi_label: bool = False,
) -> keras.Sequential:
    """The article's CNN: Conv32-Pool-Conv64-Pool-Conv128-Pool-Flatten-Dense128-Dense
    (3x3 kernels, valid padding, ReLU, 2x2 max pooling). The last layer is softmax over
    ``n_classes``, or sigmoid units for one class or ``multi_label`` outputs
    (:func:`helpers.models.heads.output_activation`). ``global_pool=True``
    swaps Flatten for global average pooling (what that changes is shown in 02)."""
    head = output_activation(n_classes, multi_label)
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
    input_shape: tuple[int, int, int] = (12, 12, 1),
    filters: int = 4,
    n_classes: int = 2,
    kernel: int = 3,
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


def conv_bn_relu(x, filters: int, name: str, bn_momentum: float = 0.99):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def compact_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    n_classes: int = 1,
    *,
    width: int = 32,
    dropout: float = 0.3,
    bn_momentum: float = 0.99,
    multi_label: bool = False,
) -> keras.Model:
    """The improved model: three stages of two 3x3 Conv-BatchNorm-ReLU layers (width,
    2x width, 4x width channels) with 2x2 max pooling between stages, global average
    pooling, dropout and one dense output (softmax over the classes; sigmoid for one class or
    ``multi_label`` outputs, :func:`helpers.models.heads.output_activation`).

    Batch norm lets a high learning rate train stably; global average pooling keeps the
    head tiny (4 * width * n_classes weights) and the parameter count independent of the
    image size; 'same' padding keeps the borders of a 28 px image. ``bn_momentum``: a
    short run (a few hundred steps) needs a lower batch-norm momentum (e.g. 0.9), or the
    moving statistics used at inference still remember the first epochs.
    """
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        x = conv_bn_relu(x, filters, f"stage{stage}a", bn_momentum)
        x = conv_bn_relu(x, filters, f"stage{stage}b", bn_momentum)
        if stage < 3:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    head = output_activation(n_classes, multi_label)
    outputs = layers.Dense(n_classes, activation=head, name="output")(x)
    return keras.Model(inputs, outputs, name="compact_cnn")
