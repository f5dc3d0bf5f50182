"""Exporting a trained Keras classifier for deployment, and running the exports: the
native ``.keras`` file (reloaded with ``safe_mode=True``), a TensorFlow SavedModel, and
TFLite in float32, dynamic-range and full-int8 quantisation, run with the LiteRT
interpreter (``ai-edge-litert``). Taught in ``notebooks/08_deployment.ipynb``.

Every export sits beside a ``<name>.json`` sidecar (:class:`helpers.deploy.lite.ModelInfo`:
class names, input shape, decision threshold, source, intended use) that
:mod:`helpers.deploy.predict` reads, so a model file is usable on its own. Running a TFLite
export needs no TensorFlow: :class:`helpers.deploy.lite.LiteModel`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers import atomic
from helpers.deploy.lite import ModelInfo, native_output_silenced
from helpers.deploy.ood import DEFAULT_QUANTILE, FeatureDistance
from helpers.evaluate.generative import feature_model
from helpers.models.registry import CUSTOM_OBJECTS  # noqa: F401  (registers custom layers and losses)

TFLITE_VARIANTS = ("float32", "dynamic", "int8")


def save_keras(model: keras.Model, path: str | Path, info: ModelInfo) -> Path:
    """Write ``model`` as a ``.keras`` file (atomically) with its sidecar."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a Keras model file must end in .keras")
    with atomic.staged_file(path) as staging:
        model.save(staging)
    info.save(path)
    return path


def load_keras(path: str | Path) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode=True``: no arbitrary code (Lambda layers)
    is deserialised; custom objects must be registered (:mod:`helpers.models.registry`
    registers every one of the collection's)."""
    return keras.models.load_model(path, safe_mode=True, compile=False)


def export_savedmodel(model: keras.Model, folder: str | Path) -> None:
    """``model.export`` as a SavedModel into ``folder``, without TF's INFO log line
    "Assets written to: <temporary path>" (it would land in a notebook's outputs)."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        model.export(str(folder), format="tf_saved_model", verbose=False)
    finally:
        logger.setLevel(level)


def save_savedmodel(model: keras.Model, folder: str | Path, info: ModelInfo) -> Path:
    """Export a TensorFlow SavedModel (inference only, ``serve`` endpoint) into
    ``folder``, written to a temporary sibling first and renamed when complete."""

    folder = Path(folder)
    with atomic.staged_folder(folder) as staging:
        export_savedmodel(model, staging)
    info.save(folder)
    return folder


def tflite_bytes(
    saved_model: str | Path, variant: str, representative: np.ndarray | None = None
) -> bytes:
    """Convert a SavedModel to TFLite. ``variant``: ``"float32"``; ``"dynamic"`` (weights
    int8, activations float at run time); ``"int8"`` (weights and activations int8,
    int8 input and output; ``representative`` images calibrate the activation ranges)."""

    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"variant must be one of {TFLITE_VARIANTS}, not {variant!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if variant in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError(
                "full-int8 quantisation needs representative images (from the training split)"
            )
        samples = np.asarray(representative, dtype=np.float32)

        def representative_dataset():
            for sample in samples:
                yield [sample[None]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with native_output_silenced():  # the converter prints its settings from C++
        return converter.convert()


def save_tflite(
    saved_model: str | Path,
    path: str | Path,
    variant: str,
    info: ModelInfo,
    representative: np.ndarray | None = None,
) -> Path:
    """Convert (:func:`tflite_bytes`) and write ``path`` atomically, with its sidecar."""
    path = Path(path)
    atomic.write_bytes(path, tflite_bytes(saved_model, variant, representative))
    info.save(path)
    return path


def save_feature_check(
    model: keras.Model,
    folder: str | Path,
    info: ModelInfo,
    reference: tuple[np.ndarray, np.ndarray],
    name: str = "model",
    quantile: float = DEFAULT_QUANTILE,
) -> dict[str, Path]:
    """The out-of-distribution check of :mod:`helpers.deploy.ood` for ``model``: its
    penultimate layer as ``name_features.tflite`` (float32) and the Mahalanobis statistics
    as ``name_features.npz``, fitted on ``reference[0]`` (training images, model-ready) with
    the threshold from ``reference[1]`` (validation images); records both files, and the
    threshold, in ``info.ood``."""
    folder = Path(folder)
    features = feature_model(model)

    def embed(images: np.ndarray, chunk: int = 64) -> np.ndarray:
        # 64 images per call: TensorFlow keeps the memory of its largest eager batch
        # (helpers.deploy.latency.CHUNK), so larger chunks raise the notebook's peak.
        return np.concatenate(
            [
                features(images[i : i + chunk], training=False).numpy()
                for i in range(0, len(images), chunk)
            ]
        )

    fit_images, calibration_images = reference
    check = FeatureDistance.fit(embed(fit_images), embed(calibration_images), quantile)
    feature_path = folder / f"{name}_features.tflite"
    with tempfile.TemporaryDirectory() as staging:  # the SavedModel is only a step to TFLite
        export_savedmodel(features, staging)
        atomic.write_bytes(feature_path, tflite_bytes(staging, "float32"))
    statistics = check.save(folder / f"{name}_features.npz")
    info.ood = {
        "features": feature_path.name,
        "statistics": statistics.name,
        "threshold": check.threshold,
        "quantile": quantile,
        "n_fit": len(fit_images),
        "n_calibration": len(calibration_images),
    }
    return {"features": feature_path, "statistics": statistics}


def export_all(
    model: keras.Model,
    folder: str | Path,
    info: ModelInfo,
    representative: np.ndarray,
    name: str = "model",
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Path]:
    """Every format into ``folder``: ``name.keras``, ``name_savedmodel/``, and
    ``name_{float32,dynamic,int8}.tflite``; with ``reference`` images (training, validation)
    also the out-of-distribution check (:func:`save_feature_check`), named in every sidecar.
    Returns {format: path}."""
    folder = Path(folder)
    paths = {}
    if reference is not None:
        paths.update(save_feature_check(model, folder, info, reference, name))
    paths |= {
        "keras": save_keras(model, folder / f"{name}.keras", info),
        "savedmodel": save_savedmodel(model, folder / f"{name}_savedmodel", info),
    }
    for variant in TFLITE_VARIANTS:
        paths[f"tflite-{variant}"] = save_tflite(
            paths["savedmodel"],
            folder / f"{name}_{variant}.tflite",
            variant,
            info,
            representative if variant == "int8" else None,
        )
    return paths


def size_on_disk(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder (a SavedModel)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
