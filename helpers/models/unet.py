"""U-Net for lesion segmentation (Ronneberger et al. 2015). Taught in
``notebooks/06_segmentation_detection.ipynb``; trained by :mod:`helpers.lesions.segmentation`.
"""

from __future__ import annotations

import keras
from keras import layers

from helpers.models.cnn import conv_bn_relu


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
        x = conv_bn_relu(x, width * 2**d, f"enc{d}a")
        x = conv_bn_relu(x, width * 2**d, f"enc{d}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{d}")(x)
    x = conv_bn_relu(x, width * 2**depth, "bottleneck_a")
    x = conv_bn_relu(x, width * 2**depth, "bottleneck_b")
    for d in reversed(range(depth)):
        x = layers.Conv2DTranspose(width * 2**d, 2, strides=2, name=f"up{d}")(x)
        x = layers.Concatenate(name=f"skip{d}")([x, skips[d]])
        x = conv_bn_relu(x, width * 2**d, f"dec{d}a")
        x = conv_bn_relu(x, width * 2**d, f"dec{d}b")
    outputs = layers.Conv2D(n_classes, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet")
