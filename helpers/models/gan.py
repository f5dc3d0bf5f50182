"""A small class-conditional DCGAN (Radford et al. 2016; conditioning as in Mirza & Osindero
2014) that generates 28 x 28 images (gray or colour) of a chosen class: the two networks, a seeded
``tf.GradientTape`` training loop that records both losses, and sampling. Taught in the
generative-augmentation section of ``notebooks/09_large_models.ipynb``, beside the VAE of
:mod:`helpers.models.vae`; the samples are scored by :mod:`helpers.evaluate.generative`.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from helpers.runtime import set_seed


def gan_models(
    latent: int = 32, n_classes: int = 2, size: int = 28, width: int = 32, channels: int = 1
) -> tuple[keras.Model, keras.Model]:
    """(generator: [z, label] -> image in [0, 1], discriminator: [image, label] -> logit).

    The generator joins z to a learned embedding of the label, projects to a
    (size/4)² x 2·width map and doubles it twice with transposed convolutions (batch norm,
    leaky ReLU); the discriminator adds the label as an extra image channel and halves the
    image twice with stride-2 convolutions. ``size`` must be a multiple of 4; ``channels``
    1 (gray) or 3 (RGB)."""
    if size % 4:
        raise ValueError(f"image size must be a multiple of 4, not {size}")
    side = size // 4
    z = keras.Input((latent,), name="z")
    label = keras.Input((1,), dtype="int32", name="label")
    code = layers.Flatten()(layers.Embedding(n_classes, 8)(label))
    y = layers.Concatenate()([z, code])
    y = layers.Dense(side * side * 2 * width, use_bias=False)(y)
    y = layers.LeakyReLU(0.2)(layers.BatchNormalization()(y))
    y = layers.Reshape((side, side, 2 * width))(y)
    y = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(y)
    y = layers.LeakyReLU(0.2)(layers.BatchNormalization()(y))
    image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="sigmoid")(y)
    generator = keras.Model([z, label], image, name="generator")

    x_in = keras.Input((size, size, channels), name="image")
    d_label = keras.Input((1,), dtype="int32", name="label")
    plane = layers.Reshape((size, size, 1))(
        layers.Flatten()(layers.Embedding(n_classes, size * size)(d_label))
    )
    x = layers.Concatenate()([x_in, plane])
    x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, strides=2, padding="same")(x))
    x = layers.LeakyReLU(0.2)(layers.Conv2D(2 * width, 4, strides=2, padding="same")(x))
    x = layers.Dropout(0.3)(layers.Flatten()(x))
    discriminator = keras.Model([x_in, d_label], layers.Dense(1)(x), name="discriminator")
    return generator, discriminator


def train_gan(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    latent: int = 32,
    steps: int = 1500,
    batch_size: int = 64,
    learning_rate: float = 2e-4,
    width: int = 32,
    seed: int = 0,
    log_every: int = 25,
) -> tuple[keras.Model, keras.Model, dict]:
    """Fit the conditional GAN to float images in [0, 1] (N, H, W) or (N, H, W, C) with
    integer class ``labels``: the non-saturating loss (binary cross-entropy on logits, real
    targets smoothed to 0.9), Adam(β₁ = 0.5), one discriminator and one generator step per
    batch, batches drawn with replacement by a seeded generator. Returns ``(generator,
    discriminator, history)``: ``d_loss``, ``g_loss`` and the discriminator's mean
    probability on real (``d_real``) and generated (``d_fake``) images, each averaged over
    ``log_every`` steps, the ``step`` they end at, and ``seconds``."""
    set_seed(seed)
    x = np.asarray(images, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    y = np.asarray(labels, np.int32).reshape(-1, 1)
    n_classes = int(y.max()) + 1
    generator, discriminator = gan_models(latent, max(2, n_classes), x.shape[1], width, x.shape[-1])
    g_opt = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    d_opt = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    noise = tf.random.Generator.from_seed(seed)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real, label):
        z = noise.normal((tf.shape(real)[0], latent))
        with tf.GradientTape() as d_tape:
            fake = generator([z, label], training=True)
            real_logit = discriminator([real, label], training=True)
            fake_logit = discriminator([fake, label], training=True)
            d_loss = bce(0.9 * tf.ones_like(real_logit), real_logit) + bce(
                tf.zeros_like(fake_logit), fake_logit
            )
        d_vars = discriminator.trainable_variables
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as g_tape:
            fake = generator([z, label], training=True)
            g_logit = discriminator([fake, label], training=True)
            g_loss = bce(tf.ones_like(g_logit), g_logit)
        g_vars = generator.trainable_variables
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        return (
            d_loss,
            g_loss,
            tf.reduce_mean(tf.sigmoid(real_logit)),
            tf.reduce_mean(tf.sigmoid(fake_logit)),
        )

    rng = np.random.default_rng(seed)
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    history: dict = {k: [] for k in (*keys, "step")}
    window: list[tuple[float, ...]] = []
    start = time.perf_counter()
    for i in range(1, steps + 1):
        batch = rng.integers(0, len(x), batch_size)
        window.append(tuple(float(v) for v in step(tf.constant(x[batch]), tf.constant(y[batch]))))
        if i % log_every == 0 or i == steps:
            for k, v in zip(keys, np.mean(window, axis=0)):
                history[k].append(float(v))
            history["step"].append(i)
            window = []
    history["seconds"] = time.perf_counter() - start
    return generator, discriminator, history


def sample_gan(generator: keras.Model, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Generated images (n, H, W, C) in [0, 1], one for each class label in ``labels``,
    from latent draws z ~ N(0, I)."""
    labels = np.asarray(labels, np.int32).reshape(-1, 1)
    latent = generator.input_shape[0][-1]
    z = np.random.default_rng(seed).standard_normal((len(labels), latent)).astype(np.float32)
    return generator.predict([z, labels], batch_size=256, verbose=0)
