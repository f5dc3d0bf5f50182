"""Every model of the collection by name, and every custom Keras object registered.

:func:`build_model` builds a classifier by the name a :class:`helpers.train.config.TrainConfig`
carries (the model cache keys on it). Importing this module registers the custom layers
and losses (under the package name ``"helpers"``, which does not change when modules move),
so any cached or exported ``.keras`` file loads after ``import helpers.models.registry``.
"""

from __future__ import annotations

import keras

from helpers.models.backbones import mobilenet_v3_small
from helpers.models.cnn import compact_cnn, seed_cnn
from helpers.models.losses import dice_bce_loss
from helpers.models.vit import PositionEmbedding, vit

#: Custom objects saved inside model files (registered by their decorators; listed here so
#: that importing this module is what registers them).
CUSTOM_OBJECTS = {"PositionEmbedding": PositionEmbedding, "dice_bce_loss": dice_bce_loss}

MODEL_BUILDERS = {
    "seed_cnn": seed_cnn,
    "compact_cnn": compact_cnn,
    "vit": vit,
    "mobilenet_v3_small": mobilenet_v3_small,
}


def build_model(
    name: str,
    input_shape: tuple[int, int, int],
    n_classes: int,
    *,
    multi_label: bool = False,
    **options,
) -> keras.Model:
    """Build a registered model by name; ``options`` go to its builder. ``multi_label``: one
    sigmoid per label instead of a softmax over classes (the task decides, not the model)."""
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_BUILDERS))}")
    return MODEL_BUILDERS[name](input_shape, n_classes, multi_label=multi_label, **options)
