"""Explanations of a Keras image classifier, each returning a heat-map of the image's
size: Grad-CAM, integrated gradients, LIME and SHAP (GradientExplainer). Taught in
``notebooks/05_explainability.ipynb``; scored by :mod:`helpers.explain.scoring`.

Conventions: ``image`` is one float image (H, W) or (H, W, C) as the model takes it;
``class_index`` picks the explained class. A binary model with one sigmoid output has
classes 0 and 1 (class 0's score is the negated logit). No function modifies the model:
where the pre-activation logit is needed, the last Dense layer's kernel is applied by
hand rather than switching its activation off in place.
"""

from __future__ import annotations

import contextlib
import warnings
from unittest import mock

import keras
import numpy as np
import tensorflow as tf
from skimage.segmentation import slic

from helpers.data.preprocess import resize_image

_SQUASHING = {"sigmoid", "softmax"}


def _as_batch(image: np.ndarray, model: keras.Model) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    channels = model.input_shape[-1]
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[-1] != channels:
        raise ValueError(f"image has {x.shape[-1]} channels, the model expects {channels}")
    return x[None]


def spatial_layer(model: keras.Model) -> keras.layers.Layer:
    """The last layer whose output is a spatial feature map (rank 4: batch, H, W, C),
    i.e. the rectified output of the last convolution block before pooling/flattening.
    Works for Sequential and Functional models; never relies on a layer name."""
    for layer in reversed(model.layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and shape[1] is not None and shape[1] > 1:
            return layer
    raise ValueError(f"model {model.name!r} has no layer with a spatial (4-D) output for Grad-CAM")


def _model_input(model: keras.Model):
    """The input tensor (not a one-element list, which Keras 3 warns about)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _logit_head(model: keras.Model):
    """(tensor feeding the head, function mapping it to logits). If the last layer is a
    Dense with sigmoid/softmax, its kernel and bias are applied by hand (the model is not
    touched); otherwise the model's own output is used."""
    head = model.layers[-1]
    activation = getattr(getattr(head, "activation", None), "__name__", "")
    if isinstance(head, keras.layers.Dense) and activation in _SQUASHING:
        return head.input, lambda features: tf.matmul(features, head.kernel) + head.bias
    return model.output, lambda outputs: outputs


def _class_score(logits: tf.Tensor, class_index: int) -> tf.Tensor:
    if logits.shape[-1] == 1:
        if class_index not in (0, 1):
            raise ValueError(f"a one-output model has classes 0 and 1, not {class_index}")
        return logits[:, 0] if class_index == 1 else -logits[:, 0]
    return logits[:, class_index]


def predicted_class(model: keras.Model, image: np.ndarray) -> int:
    """The class the model predicts for ``image`` (sigmoid: 1 if p >= 0.5)."""
    p = model(_as_batch(image, model), training=False).numpy()[0]
    return int(p[0] >= 0.5) if p.shape[-1] == 1 else int(np.argmax(p))


def grad_cam(
    model: keras.Model,
    image: np.ndarray,
    class_index: int | None = None,
    layer: str | keras.layers.Layer | None = None,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): the feature maps of :func:`spatial_layer` (or
    ``layer``) weighted by the spatial mean of the class logit's gradient, rectified and
    resized (bilinear) to the image. Returns an (H, W) map >= 0, not normalised."""
    x = _as_batch(image, model)
    class_index = predicted_class(model, image) if class_index is None else class_index
    target = (
        spatial_layer(model)
        if layer is None
        else (model.get_layer(layer) if isinstance(layer, str) else layer)
    )
    features, to_logits = _logit_head(model)
    probe = keras.Model(_model_input(model), [target.output, features])
    with tf.GradientTape() as tape:
        maps, head_input = probe(x, training=False)
        score = _class_score(to_logits(head_input), class_index)
    grads = tape.gradient(score, maps)[0]
    weights = tf.reduce_mean(grads, axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(maps[0] * weights, axis=-1)).numpy()
    return resize_image(cam, x.shape[1:3])


def integrated_gradients(
    model: keras.Model,
    image: np.ndarray,
    class_index: int | None = None,
    steps: int = 32,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017) of the class logit along the
    straight path from ``baseline`` (default: black image) to the image, Riemann
    midpoint rule with ``steps`` points; summed over channels. Returns the signed (H, W)
    attribution; its sum approximates logit(image) - logit(baseline)."""
    x = _as_batch(image, model)
    class_index = predicted_class(model, image) if class_index is None else class_index
    base = np.zeros_like(x) if baseline is None else _as_batch(baseline, model)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[:, None, None, None]
    path = tf.constant(base + alphas * (x - base))
    features, to_logits = _logit_head(model)
    head = keras.Model(_model_input(model), features)
    with tf.GradientTape() as tape:
        tape.watch(path)
        score = _class_score(to_logits(head(path, training=False)), class_index)
    grads = tape.gradient(score, path).numpy().mean(axis=0)
    return ((x[0] - base[0]) * grads).sum(axis=-1)


@contextlib.contextmanager
def _quiet():
    """Silence LIME's progress bar, shap's Keras-3 input-structure warning and TF's
    retracing warnings for the duration of one explanation (LIME 0.2 has no switch for
    its tqdm bar)."""
    from lime import lime_image  # deferred: the optional [explain] extra

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # shap builds a new tf.function per explainer: retracing warnings
    try:
        with (
            mock.patch.object(lime_image, "tqdm", lambda rows, *args, **kwargs: rows),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            yield
    finally:
        logger.setLevel(level)


def _predict_fn(model: keras.Model, batch_size: int = 256):
    """LIME hands over RGB images; give the model its own channel count."""
    channels = model.input_shape[-1]

    def predict(images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        if channels == 1 and x.shape[-1] == 3:
            x = x.mean(axis=-1, keepdims=True)
        p = model.predict(x, batch_size=batch_size, verbose=0)
        return np.concatenate([1.0 - p, p], axis=1) if p.shape[-1] == 1 else p

    return predict


def slic_segments(image: np.ndarray, n_segments: int = 40, compactness: float = 0.3) -> np.ndarray:
    """SLIC superpixels for a small image (values about 0-1; a colour image is segmented on
    its mean channel): ~``n_segments`` compact regions that follow intensity edges. The
    default quickshift of LIME returns
    a handful of segments at 28-64 px, too coarse to localise anything. Lower
    ``compactness`` follows edges more closely but merges noisy regions (at 0.1 a
    uniform-noise image becomes one segment); at 1 and above SLIC is nearly a grid."""

    gray = np.asarray(image, dtype=float)
    gray = gray.mean(axis=-1) if gray.ndim == 3 else gray  # a colour image: its mean channel
    return slic(
        gray,
        n_segments=n_segments,
        compactness=compactness,
        channel_axis=None,
        start_label=0,
        enforce_connectivity=True,
    )


def lime_map(
    model: keras.Model,
    image: np.ndarray,
    class_index: int | None = None,
    *,
    num_samples: int = 400,
    n_segments: int = 40,
    compactness: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """LIME (Ribeiro et al. 2016): perturb superpixels (:func:`slic_segments`) on and off
    (off = the segment's mean, LIME's default), fit a weighted linear model to the class
    probability, and paint each segment with its coefficient. A fresh, seeded explainer
    per call makes the result reproducible. Returns the signed (H, W) map."""
    from lime import lime_image  # deferred: the optional [explain] extra

    x = _as_batch(image, model)[0]
    class_index = predicted_class(model, image) if class_index is None else class_index
    segments = slic_segments(x, n_segments, compactness)
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    rgb = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x
    with _quiet():
        explanation = explainer.explain_instance(
            rgb.astype(np.float64),
            _predict_fn(model),
            labels=(class_index,),
            top_labels=None,
            hide_color=None,
            num_features=int(segments.max()) + 1,
            num_samples=num_samples,
            batch_size=num_samples,
            segmentation_fn=lambda _: segments,
            random_seed=seed,
        )
    heat = np.zeros(segments.shape, dtype=np.float64)
    for segment, weight in explanation.local_exp[class_index]:
        heat[segments == segment] = weight
    return heat


def shap_map(
    model: keras.Model,
    image: np.ndarray,
    background: np.ndarray,
    class_index: int | None = None,
    *,
    nsamples: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """SHAP values from ``shap.GradientExplainer`` (expected gradients: integrated
    gradients averaged over baselines drawn from ``background``), summed over channels,
    for the explained class's *probability* (class 0 of a one-output model: the negated
    map). ``DeepExplainer`` is not used: it fails on some layer types. Returns (H, W)."""
    import shap  # deferred: the optional [explain] extra

    x = _as_batch(image, model)
    class_index = predicted_class(model, image) if class_index is None else class_index
    back = np.asarray(background, dtype=np.float32)
    back = back[..., None] if back.ndim == 3 else back
    with _quiet():
        explainer = shap.GradientExplainer(model, back)
        values = explainer.shap_values(x, nsamples=nsamples, rseed=seed)
    values = np.asarray(values[0] if isinstance(values, list) and len(values) == 1 else values)
    n_outputs = model.output_shape[-1]
    if isinstance(values, np.ndarray) and values.ndim == 5:  # (1, H, W, C, outputs)
        per_class = values[0, ..., 0 if n_outputs == 1 else class_index]
    elif isinstance(values, np.ndarray) and values.ndim == 4:  # (1, H, W, C): one output
        per_class = values[0]
    else:  # list over outputs
        per_class = np.asarray(values[class_index])[0]
    per_class = per_class.sum(axis=-1)
    return -per_class if (n_outputs == 1 and class_index == 0) else per_class


def random_map(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A map of uniform noise: the baseline every explanation must beat."""
    return np.random.default_rng(seed).uniform(size=shape)
