"""A small convolutional variational autoencoder (Kingma & Welling 2014) that generates
28 x 28 gray images, and the Fréchet distance between two sets of classifier features
(the idea of the FID, Heusel et al. 2017, with a medical classifier instead of
Inception). For the generative-augmentation section of ``notebooks/09_large_models.ipynb``.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from scipy import linalg

from helpers.config import set_seed


def vae_models(latent: int = 16, size: int = 28, width: int = 32) -> tuple[keras.Model, keras.Model]:
    """(encoder: image -> [mean, log-variance], decoder: latent -> image in [0, 1]).
    Two stride-2 convolutions down, two transposed convolutions up; ``size`` must be a
    multiple of 4."""
    if size % 4:
        raise ValueError(f"image size must be a multiple of 4, not {size}")
    inputs = keras.Input((size, size, 1))
    x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    encoder = keras.Model(inputs, [layers.Dense(latent, name="mean")(x), layers.Dense(latent, name="log_var")(x)],
                          name="encoder")
    z = keras.Input((latent,))
    side = size // 4
    y = layers.Dense(side * side * 2 * width, activation="relu")(z)
    y = layers.Reshape((side, side, 2 * width))(y)
    y = layers.Conv2DTranspose(2 * width, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(y)
    decoder = keras.Model(z, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(y), name="decoder")
    return encoder, decoder


def train_vae(images: np.ndarray, *, latent: int = 16, epochs: int = 30, batch_size: int = 64,
              learning_rate: float = 2e-3, beta: float = 1.0, seed: int = 0, width: int = 32
              ) -> tuple[keras.Model, keras.Model, dict]:
    """Fit a VAE to float images in [0, 1] (N, H, W) or (N, H, W, 1): summed binary
    cross-entropy reconstruction + ``beta`` x KL to N(0, I), Adam, seeded shuffling and
    sampling. Returns ``(encoder, decoder, history)`` (loss per epoch, seconds)."""
    set_seed(seed)
    x = np.asarray(images, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    encoder, decoder = vae_models(latent, x.shape[1], width)
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
            bce = -tf.reduce_sum(batch * tf.math.log(reconstruction + eps)
                                 + (1 - batch) * tf.math.log(1 - reconstruction + eps), axis=(1, 2, 3))
            kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
            loss = tf.reduce_mean(bce + beta * kl)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(seed)
    losses, start = [], time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        epoch = [float(step(tf.constant(x[order[i:i + batch_size]]))) for i in range(0, len(x), batch_size)]
        losses.append(float(np.mean(epoch)))
    return encoder, decoder, {"loss": losses, "seconds": time.perf_counter() - start}


def sample(decoder: keras.Model, n: int, seed: int = 0) -> np.ndarray:
    """``n`` generated images (n, H, W, 1) in [0, 1] from latent draws z ~ N(0, I)."""
    z = np.random.default_rng(seed).standard_normal((n, decoder.input_shape[-1])).astype(np.float32)
    return decoder.predict(z, batch_size=256, verbose=0)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of feature
    vectors (rows), each summarised by its mean and covariance. 0 for identical
    distributions; grows as generated features drift from real ones."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real  # tiny imaginary parts are numerical noise
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def feature_model(classifier: keras.Model, layer: str | None = None) -> keras.Model:
    """The classifier cut before its output layer (or at ``layer``): the feature space in
    which :func:`frechet_distance` compares real and generated images."""
    source = classifier.get_layer(layer) if layer else classifier.layers[-2]
    return keras.Model(classifier.inputs[0], source.output)
