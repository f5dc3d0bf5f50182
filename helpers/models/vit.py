"""A small Vision Transformer (Dosovitskiy et al. 2021) written with Keras layers: patch
embedding, learned position embeddings, pre-norm transformer blocks (multi-head
self-attention + MLP), mean pooling over tokens, one dense output. For the CNN vs ViT
comparison of ``notebooks/09_large_models.ipynb``.

:func:`attention_maps` returns the last block's attention from each patch, averaged over
heads and queries, as an image-sized map (``attention rollout`` is an exercise).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from helpers.models.heads import output_activation


@keras.saving.register_keras_serializable(package="helpers")
class PositionEmbedding(layers.Layer):
    """Adds a learned vector to each of the ``n_tokens`` token embeddings."""

    def __init__(self, n_tokens: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.n_tokens, self.dim = n_tokens, dim

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(1, self.n_tokens, self.dim),
            name="embedding",
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, tokens):
        return tokens + self.embedding

    def get_config(self):
        return {**super().get_config(), "n_tokens": self.n_tokens, "dim": self.dim}


def vit(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    n_classes: int = 1,
    *,
    patch: int = 4,
    dim: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp_ratio: int = 2,
    dropout: float = 0.1,
    multi_label: bool = False,
) -> keras.Model:
    """A ViT: non-overlapping ``patch`` x ``patch`` patches linearly embedded to ``dim``
    (a strided convolution), position embeddings, ``depth`` pre-norm blocks of
    ``heads``-head self-attention and a ``mlp_ratio`` x MLP with GELU, layer norm, mean
    over tokens, and a softmax output (sigmoid for one class or ``multi_label`` outputs).
    The attention layers are named ``block{k}_attention``."""
    height, width, _ = input_shape
    if height % patch or width % patch:
        raise ValueError(f"image size {height}x{width} is not divisible by the patch size {patch}")
    n_tokens = (height // patch) * (width // patch)
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(dim, patch, strides=patch, name="patch_embedding")(inputs)
    x = layers.Reshape((n_tokens, dim), name="tokens")(x)
    x = PositionEmbedding(n_tokens, dim, name="position_embedding")(x)
    for k in range(1, depth + 1):
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{k}_norm1")(x)
        y = layers.MultiHeadAttention(
            heads, dim // heads, dropout=dropout, name=f"block{k}_attention"
        )(y, y)
        x = layers.Add(name=f"block{k}_residual1")([x, y])
        y = layers.LayerNormalization(epsilon=1e-6, name=f"block{k}_norm2")(x)
        y = layers.Dense(mlp_ratio * dim, activation="gelu", name=f"block{k}_mlp1")(y)
        y = layers.Dropout(dropout, name=f"block{k}_dropout")(y)
        y = layers.Dense(dim, name=f"block{k}_mlp2")(y)
        x = layers.Add(name=f"block{k}_residual2")([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = layers.GlobalAveragePooling1D(name="token_mean")(x)
    head = output_activation(n_classes, multi_label)
    outputs = layers.Dense(n_classes, activation=head, name="output")(x)
    return keras.Model(inputs, outputs, name="vit")


def attention_maps(model: keras.Model, images: np.ndarray, block: int | None = None) -> np.ndarray:
    """For each image, how much attention each patch *receives* in ``block`` (default:
    the last), averaged over heads and query tokens, upsampled (nearest) to the image
    size. Returns (N, H, W); each map sums to the number of pixels per patch. The model
    is not modified: the block's attention layer is called again on its own inputs."""
    names = [layer.name for layer in model.layers if layer.name.endswith("_attention")]
    if not names:
        raise ValueError(f"model {model.name!r} has no attention layers named '*_attention'")
    name = names[-1] if block is None else f"block{block}_attention"
    attention = model.get_layer(name)
    norm = model.get_layer(name.replace("_attention", "_norm1"))
    probe = keras.Model(model.inputs[0], norm.output)
    tokens = probe(np.asarray(images, np.float32), training=False)
    _, scores = attention(tokens, tokens, return_attention_scores=True, training=False)
    received = keras.ops.convert_to_numpy(scores).mean(axis=(1, 2))  # (N, tokens)
    height, width = model.input_shape[1:3]
    patch = height // int(round(np.sqrt(received.shape[1] * height / width)))
    grid = received.reshape(len(received), height // patch, width // patch)
    return np.kron(grid, np.ones((patch, patch)))
