"""Model builders.

``seed_cnn`` is the source article's network, counted layer by layer in
``notebooks/02_cnn_math.ipynb`` and trained in ``03_training``; ``compact_cnn`` is the
improved model of ``03_training``; ``tiny_cnn`` is the Keras twin of
:class:`helpers.cnn_math.TinyCNN` used in ``02_cnn_math`` to check NumPy training against
Keras. :func:`build_model` builds any of them by name (the training cache keys on it).
"""

from __future__ import annotations

import keras
from keras import layers

# Imported here (not lazily) so that loading any cached model registers the ViT's custom layer.
from helpers.vit import vit


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


def _conv_bn_relu(x, filters: int, name: str, bn_momentum: float = 0.99):
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
) -> keras.Model:
    """The improved model: three stages of two 3x3 Conv-BatchNorm-ReLU layers (width,
    2x width, 4x width channels) with 2x2 max pooling between stages, global average
    pooling, dropout and one dense output (sigmoid for ``n_classes == 1``, else softmax).

    Batch norm lets a high learning rate train stably; global average pooling keeps the
    head tiny (4 * width * n_classes weights) and the parameter count independent of the
    image size; 'same' padding keeps the borders of a 28 px image. ``bn_momentum``: a
    short run (a few hundred steps) needs a lower batch-norm momentum (e.g. 0.9), or the
    moving statistics used at inference still remember the first epochs.
    """
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        x = _conv_bn_relu(x, filters, f"stage{stage}a", bn_momentum)
        x = _conv_bn_relu(x, filters, f"stage{stage}b", bn_momentum)
        if stage < 3:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    head = "sigmoid" if n_classes == 1 else "softmax"
    outputs = layers.Dense(n_classes, activation=head, name="output")(x)
    return keras.Model(inputs, outputs, name="compact_cnn")


def mobilenet_v3_small(input_shape: tuple[int, int, int] = (64, 64, 3), n_classes: int = 1, *,
                       weights: str | None = "imagenet", dropout: float = 0.2,
                       bn_momentum: float | None = None, minimalistic: bool = False) -> keras.Model:
    """MobileNetV3-Small (Keras Applications) with a new head, for transfer learning
    (``09_large_models``): ImageNet weights when they can be downloaded, else random
    initialisation; :func:`helpers.transfer.backbone` says which."""
    from helpers.transfer import backbone, transfer_classifier

    features, _ = backbone("MobileNetV3Small", input_shape, weights, minimalistic=minimalistic)
    return transfer_classifier(features, n_classes, dropout=dropout, bn_momentum=bn_momentum)


def _vit(input_shape: tuple[int, int, int] = (28, 28, 1), n_classes: int = 1, **options) -> keras.Model:
    return vit(input_shape, n_classes, **options)


MODEL_BUILDERS = {"seed_cnn": seed_cnn, "compact_cnn": compact_cnn, "vit": _vit,
                  "mobilenet_v3_small": mobilenet_v3_small}


def build_model(name: str, input_shape: tuple[int, int, int], n_classes: int, **options) -> keras.Model:
    """Build a registered model by name; ``options`` go to its builder."""
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_BUILDERS))}")
    return MODEL_BUILDERS[name](input_shape, n_classes, **options)


def unet(
    input_shape: tuple[int, int, int] = (64, 64, 1),
    *,
    depth: int = 3,
    width: int = 16,
    n_classes: int = 1,
) -> keras.Model:
    """U-Net (Ronneberger et al. 2015): ``depth`` encoder stages of two Conv-BN-ReLU
    layers (``width * 2**d`` channels) with 2x2 max pooling, a bottleneck, and a mirror
    decoder with transposed convolutions and skip connections. Output: one sigmoid
    probability map per class, the input's size. Taught in ``06_segmentation_detection``.
    The input side must be divisible by ``2**depth``."""
    side = input_shape[0]
    if side % (2**depth):
        raise ValueError(f"input size {side} is not divisible by 2**depth = {2**depth}")
    inputs = keras.Input(input_shape)
    x, skips = inputs, []
    for d in range(depth):
        x = _conv_bn_relu(x, width * 2**d, f"enc{d}a")
        x = _conv_bn_relu(x, width * 2**d, f"enc{d}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{d}")(x)
    x = _conv_bn_relu(x, width * 2**depth, "bottleneck_a")
    x = _conv_bn_relu(x, width * 2**depth, "bottleneck_b")
    for d in reversed(range(depth)):
        x = layers.Conv2DTranspose(width * 2**d, 2, strides=2, name=f"up{d}")(x)
        x = layers.Concatenate(name=f"skip{d}")([x, skips[d]])
        x = _conv_bn_relu(x, width * 2**d, f"dec{d}a")
        x = _conv_bn_relu(x, width * 2**d, f"dec{d}b")
    outputs = layers.Conv2D(n_classes, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet")


def progression_model(
    n_visits: int,
    image_size: int = 64,
    *,
    width: int = 16,
    recurrent_units: int = 32,
    n_trends: int = 3,
) -> keras.Model:
    """A shared CNN encoder applied to every visit (TimeDistributed), its features joined
    with the visit's measured lesion area, then a GRU over the visits and two heads:
    ``next_area`` (the lesion area at the next visit, in the units of the area input)
    and ``trend`` (softmax over shrinking/stable/growing). Taught in ``07_progression``.

    Inputs: ``images`` (batch, n_visits, S, S, 1) and ``areas`` (batch, n_visits)."""
    images = keras.Input((n_visits, image_size, image_size, 1), name="images")
    areas = keras.Input((n_visits,), name="areas")
    encoder = keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            layers.Conv2D(width, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(2 * width, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4 * width, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
        ],
        name="visit_encoder",
    )
    encoded = layers.TimeDistributed(encoder, name="encode_each_visit")(images)
    joined = layers.Concatenate(name="with_area")([encoded, layers.Reshape((n_visits, 1))(areas)])
    state = layers.GRU(recurrent_units, name="gru")(joined)
    next_area = layers.Dense(1, name="next_area")(state)
    trend = layers.Dense(n_trends, activation="softmax", name="trend")(state)
    return keras.Model([images, areas], {"next_area": next_area, "trend": trend}, name="cnn_gru")
