"""Transfer learning with a Keras Applications backbone: ImageNet weights when they can be
downloaded, a local weights file when given, and otherwise random initialisation, saying
which one it got. Taught in ``notebooks/09_large_models.ipynb``; fine-tuned by
:func:`helpers.train.transfer.fine_tune`.

Offline (as on the build machine), ``weights="imagenet"`` cannot be fetched; the same code
then trains from scratch and the returned status says so, so a notebook never claims a
pre-trained result it did not get.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import keras
from keras import layers

from helpers.models.heads import output_activation


def backbone(
    name: str = "MobileNetV3Small",
    input_shape: tuple[int, int, int] = (64, 64, 3),
    weights: str | Path | None = "imagenet",
    **options,
) -> tuple[keras.Model, str]:
    """``(feature extractor without its classifier, status)``. ``weights``: ``"imagenet"``
    (downloaded by Keras into ``~/.keras/models``, checksummed; random initialisation when
    they cannot be had), :data:`IMAGENET_ONLY` (the ImageNet weights or a ``RuntimeError``,
    never a fallback), a path to a ``.weights.h5`` file saved from the same architecture, or
    ``None`` (random).
    ``options`` go to the Keras Applications builder (e.g. ``minimalistic=True``)."""
    builder = getattr(keras.applications, name, None)
    if builder is None:
        raise ValueError(f"keras.applications has no model {name!r}")

    def build(source):
        with warnings.catch_warnings():  # any input size >= 32 works; Keras warns below 224
            warnings.filterwarnings("ignore", message="`input_shape` is undefined or non-square")
            return builder(
                weights=source, include_top=False, input_shape=input_shape, pooling="avg", **options
            )

    def built(model: keras.Model, status: str) -> tuple[keras.Model, str]:
        _LAST[0] = status
        return model, status

    if weights is None:
        return built(build(None), "random initialisation (no weights requested)")
    if weights in ("imagenet", IMAGENET_ONLY):
        try:
            return built(build("imagenet"), "ImageNet weights")
        except (
            Exception
        ) as exc:  # no network, blocked host, bad download: Keras raises several kinds
            reason = _short_reason(exc)
            if weights == IMAGENET_ONLY:
                raise RuntimeError(f"ImageNet weights for {name} unavailable ({reason})") from exc
            return built(
                build(None), f"random initialisation: ImageNet weights unavailable ({reason})"
            )
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    model = build(None)
    try:
        with warnings.catch_warnings():
            # Keras 3.15 warns about weight-less containers of these models ("Skipping nested
            # container"); every weight is restored (tests/test_large_models.py checks it).
            warnings.filterwarnings("ignore", message="Skipping nested container")
            model.load_weights(path)
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"{path}: weights do not fit {name} at input {input_shape}: {exc}"
        ) from exc
    return built(model, f"weights from {path.name}")


#: ``weights`` value of a backbone that must start from the ImageNet weights (no fallback to
#: random initialisation). :func:`resolve_weights` puts it into a run's model options once the
#: weights are known to be available, so the model cache keys a pre-trained model apart from
#: one that asked for ImageNet weights offline and got random initialisation.
IMAGENET_ONLY = "imagenet-only"


def imagenet_available(
    name: str = "MobileNetV3Small",
    input_shape: tuple[int, int, int] = (64, 64, 3),
    **options,
) -> bool:
    """Whether Keras can build ``name`` with its ImageNet weights here (downloading them
    into its cache the first time). Keras' download message is swallowed."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`input_shape` is undefined or non-square")
            getattr(keras.applications, name)(
                weights="imagenet",
                include_top=False,
                input_shape=input_shape,
                pooling="avg",
                **options,
            )
    except Exception:  # noqa: BLE001  (no network, blocked host, bad download: several kinds)
        return False
    return True


def resolve_weights(model: str, input_shape: tuple[int, int, int], model_options: dict) -> dict:
    """The model options of a registered transfer ``model`` (:data:`BACKBONES`) with their
    weights' origin settled before the cache is asked: ``weights="imagenet"`` (also the
    builders' default) becomes :data:`IMAGENET_ONLY` when the ImageNet weights are available,
    and stays ``"imagenet"`` when they are not, which is the key of the random-initialisation
    fallback (the key the offline runs have always had). Other options are returned as given."""
    if model not in BACKBONES or model_options.get("weights", "imagenet") != "imagenet":
        return dict(model_options)
    backbone_options = {k: v for k, v in model_options.items() if k == "minimalistic"}
    if not imagenet_available(BACKBONES[model], input_shape, **backbone_options):
        return dict(model_options)
    return {**model_options, "weights": IMAGENET_ONLY}


#: Status of the backbone built last in this process.
_LAST: list[str | None] = [None]


def last_status() -> str | None:
    """Which weights the backbone built last in this process got (None: none built).
    The training engine records it with the run, so a cached model keeps its answer."""
    return _LAST[0]


def _short_reason(exc: Exception) -> str:
    """First line of an error with URLs shortened to their host, at most 120 characters:
    Keras' download errors start with the full weights URL, which hides the cause."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"https?://([^/\s]+)[^\s:]*", r"\1", text)
    return text if len(text) <= 120 else text[:117] + "..."


def transfer_classifier(
    features: keras.Model,
    n_classes: int = 1,
    *,
    dropout: float = 0.2,
    trainable: bool = True,
    input_range: float = 255.0,
    bn_momentum: float | None = None,
    multi_label: bool = False,
) -> keras.Model:
    """A classifier on top of ``features``: our [0, 1] images are scaled to the
    ``input_range`` the Keras Applications models expect (their own preprocessing is
    built in), then pooled features -> dropout -> dense. ``trainable=False`` freezes the
    backbone (linear probing); fine-tuning trains everything. ``bn_momentum`` overrides the
    backbone's batch-norm momentum (Keras Applications use 0.999, too slow for a short run
    from random initialisation: the inference statistics would still be the initial ones)."""
    features.trainable = trainable
    if bn_momentum is not None:
        for layer in features.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = bn_momentum
    inputs = keras.Input(features.input_shape[1:])
    x = layers.Rescaling(input_range, name="to_backbone_range")(inputs)
    x = features(x, training=trainable)
    x = layers.Dropout(dropout, name="dropout")(x)
    head = output_activation(n_classes, multi_label)
    outputs = layers.Dense(n_classes, activation=head, name="output")(x)
    return keras.Model(inputs, outputs, name=f"{features.name}_classifier")


#: Keras Applications backbone behind each registered transfer model (helpers.models.cnn).
BACKBONES = {"mobilenet_v3_small": "MobileNetV3Small"}


def mobilenet_v3_small(
    input_shape: tuple[int, int, int] = (64, 64, 3),
    n_classes: int = 1,
    *,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
    bn_momentum: float | None = None,
    minimalistic: bool = False,
    trainable: bool = True,
    multi_label: bool = False,
) -> keras.Model:
    """MobileNetV3-Small (Keras Applications) with a new head, for transfer learning
    (``09_large_models``): ImageNet weights when they can be downloaded, else random
    initialisation; :func:`backbone` says which. ``trainable=False`` freezes the backbone
    (linear probing: only the head is trained); the default fine-tunes everything."""
    features, _ = backbone(
        BACKBONES["mobilenet_v3_small"], input_shape, weights, minimalistic=minimalistic
    )
    return transfer_classifier(
        features,
        n_classes,
        dropout=dropout,
        trainable=trainable,
        bn_momentum=bn_momentum,
        multi_label=multi_label,
    )
