"""Loss functions for segmentation: soft Dice, the Dice loss and Dice + binary cross-entropy.

Taught in ``notebooks/06_segmentation_detection.ipynb``. Cross-entropy alone is dominated
by the many background pixels of a small lesion; the Dice term measures overlap with the
lesion itself, so the two together train quickly and segment small lesions well.
"""

from __future__ import annotations

import keras
from keras import ops


def soft_dice(y_true, y_pred, smooth: float = 1.0):
    """Per-image soft Dice coefficient 2|A.B| / (|A| + |B|) on probabilities, (batch,)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(1, len(y_pred.shape)))
    overlap = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return (2.0 * overlap + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package="helpers")
def dice_loss(y_true, y_pred):
    """1 - soft Dice, per image (the Dice term of :func:`dice_bce_loss` alone)."""
    return 1.0 - soft_dice(y_true, y_pred)


@keras.saving.register_keras_serializable(package="helpers")
def dice_bce_loss(y_true, y_pred):
    """(1 - soft Dice) + mean binary cross-entropy, per image."""
    y_true = ops.cast(y_true, y_pred.dtype)
    bce = ops.mean(
        keras.losses.binary_crossentropy(y_true, y_pred),
        axis=tuple(range(1, len(y_pred.shape) - 1)),
    )
    return (1.0 - soft_dice(y_true, y_pred)) + bce
