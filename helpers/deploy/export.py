"""Exporting a trained Keras classifier for deployment, and running the exports: the
native ``.keras`` file (reloaded with ``safe_mode=True``), a TensorFlow SavedModel, and
TFLite in float32, dynamic-range and full-int8 quantisation, run with the LiteRT
interpreter (``ai-edge-litert``). Taught in ``notebooks/08_deployment.ipynb``.

Every export sits beside a ``<name>.json`` sidecar (class names, input shape,
decision threshold, source) that :mod:`helpers.deploy.predict` reads, so a model file is
usable on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers import atomic
from helpers.models.registry import CUSTOM_OBJECTS  # noqa: F401  (registers custom layers and losses)

TFLITE_VARIANTS = ("float32", "dynamic", "int8")


@dataclass
class ModelInfo:
    """What a deployed model needs besides its weights."""

    class_names: list[str]
    input_shape: list[int]  # (height, width, channels) the model takes
    threshold: float = 0.5  # on the probability of class 1 (binary models)
    source: str = ""  # dataset / recipe it was trained with
    extra: dict = field(default_factory=dict)

    def save(self, model_path: Path) -> Path:
        path = sidecar_path(model_path)
        atomic.write_text(path, json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, model_path: str | Path) -> ModelInfo:
        path = sidecar_path(Path(model_path))
        if not path.is_file():
            raise FileNotFoundError(
                f"{model_path}: no model description {path.name} beside it "
                "(written by helpers.deploy.export when the model is exported)"
            )
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}: not a valid model description: {exc}") from exc


def sidecar_path(model_path: Path) -> Path:
    """``model.keras`` -> ``model.keras.json``; a SavedModel folder -> ``folder.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


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


def save_savedmodel(model: keras.Model, folder: str | Path, info: ModelInfo) -> Path:
    """Export a TensorFlow SavedModel (inference only, ``serve`` endpoint) into
    ``folder``, written to a temporary sibling first and renamed when complete."""

    folder = Path(folder)
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # TF logs "Assets written to: <temporary path>" at INFO
    try:
        with atomic.staged_folder(folder) as staging:
            model.export(str(staging), format="tf_saved_model", verbose=False)
    finally:
        logger.setLevel(level)
    info.save(folder)
    return folder


@contextlib.contextmanager
def native_output_silenced():
    """Send what C++ code writes to the process's stdout and stderr (file descriptors 1 and
    2) to /dev/null for the block: the TFLite converter and the LiteRT interpreter print
    status lines there that TF_CPP_MIN_LOG_LEVEL does not reach, and a notebook would store
    them. Python-level output and exceptions are unaffected."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    try:
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                os.dup2(null.fileno(), fd)
            yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


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


class LiteModel:
    """A TFLite model run by the LiteRT interpreter with a fixed thread count.
    ``predict`` takes float images in [0, 1] (N, H, W, C) and returns float outputs,
    quantising the input and dequantising the output for int8 models."""

    def __init__(self, path: str | Path, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter  # deferred: the optional [deploy] extra

        self.path = Path(path)
        try:
            with native_output_silenced():  # LiteRT may print from C++ while loading
                self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"{self.path}: not a loadable TFLite model: {exc}") from exc
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"][1:])

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, *self.input_shape])
            with native_output_silenced():  # the first allocation announces XNNPACK from C++
                self.interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        self._resize(len(x))
        scale, zero = self.input["quantization"]
        if self.input["dtype"] != np.float32:
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self.input["dtype"])
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        if self.output["dtype"] != np.float32:
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)


def export_all(
    model: keras.Model,
    folder: str | Path,
    info: ModelInfo,
    representative: np.ndarray,
    name: str = "model",
) -> dict[str, Path]:
    """Every format into ``folder``: ``name.keras``, ``name_savedmodel/``, and
    ``name_{float32,dynamic,int8}.tflite``. Returns {format: path}."""
    folder = Path(folder)
    paths = {
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
