"""A small convolutional variational autoencoder (Kingma & Welling 2014) that generates
28 x 28 images, gray or colour: the models, their training and sampling. Taught in the
generative-augmentation section of ``notebooks/09_large_models.ipynb``; the samples are
scored by :mod:`helpers.evaluate.generative`.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from helpers.runtime import set_seed


def vae_models(
    latent: int = 16, size: int = 28, width: int = 32, channels: int = 1
) -> tuple[keras.Model, keras.Model]:
    """(encoder: image -> [mean, log-variance], decoder: latent -> image in [0, 1]).
    Two stride-2 convolutions down, two transposed convolutions up; ``size`` must be a
    multiple of 4; ``channels`` 1 (gray) or 3 (RGB)."""
    if size % 4:
        raise ValueError(f"image size must be a multiple of 4, not {size}")
    inputs = keras.Input((size, size, channels))
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    encoder = keras.Model(
        inputs,
        [layers.Dense(latent, name="mean")(x), layers.Dense(latent, name="log_var")(x)],
        name="encoder",
    )
    z = keras.Input((latent,))
    side = size // 4
    y = layers.Dense(side * side * 2 * width, activation="relu")(z)
    y = layers.Reshape((side, side, 2 * width))(y)
    y = layers.Conv2DTranspose(2 * width, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(y)
    decoder = keras.Model(
        z, layers.Conv2D(channels, 3, padding="same", activation="sigmoid")(y), name="decoder"
    )
    return encoder, decoder


def train_vae(
    images: np.ndarray,
    *,
    latent: int = 16,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    beta: float = 1.0,
    seed: int = 0,
    width: int = 32,
) -> tuple[keras.Model, keras.Model, dict]:
    """Fit a VAE to float images in [0, 1] (N, H, W) or (N, H, W, C): summed binary
    cross-entropy reconstruction + ``beta`` x KL to N(0, I), Adam, seeded shuffling and
    sampling. Returns ``(encoder, decoder, history)`` (loss per epoch, seconds)."""
    set_seed(seed)
    x = np.asarray(images, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    encoder, decoder = vae_models(latent, x.shape[1], width, x.shape[-1])
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = encoder.trainable_variables + decoder.trainable_variables
    generator = tf.random.Generator.from_seed(seed)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            mean, log_var = encoder(batch, training=True)
            z = mean + tf.exp(0.5 * log_var) * generator.normal(tf.shape(mean))
            reconstruction = decoder(z, training=True)
            eps = 1e-6
            bce = -tf.reduce_sum(
                batch * tf.math.log(reconstruction + eps)
                + (1 - batch) * tf.math.log(1 - reconstruction + eps),
                axis=(1, 2, 3),
            )
            kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
            loss = tf.reduce_mean(bce + beta * kl)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(seed)
    losses, start = [], time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        epoch = [
            float(step(tf.constant(x[order[i : i + batch_size]])))
            for i in range(0, len(x), batch_size)
        ]
        losses.append(float(np.mean(epoch)))
    return encoder, decoder, {"loss": losses, "seconds": time.perf_counter() - start}


def sample(decoder: keras.Model, n: int, seed: int = 0) -> np.ndarray:
    """``n`` generated images (n, H, W, C) in [0, 1] from latent draws z ~ N(0, I)."""
    z = np.random.default_rng(seed).standard_normal((n, decoder.input_shape[-1])).astype(np.float32)
    return decoder.predict(z, batch_size=256, verbose=0)
