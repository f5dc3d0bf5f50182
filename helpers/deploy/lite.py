"""What a deployed model needs at run time, without TensorFlow: its sidecar description
(:class:`ModelInfo`, ``<model>.json``) and the LiteRT interpreter for TFLite files
(:class:`LiteModel`). Importing this module takes a fraction of a second, so the predict
command starts fast for a ``.tflite`` model. Taught in ``notebooks/08_deployment.ipynb``;
the exports themselves are written by :mod:`helpers.deploy.export`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from helpers import atomic

#: The intended use written into a model's sidecar per training dataset: the DICOM Modality
#: and BodyPartExamined values of the images it was trained on (PneumoniaMNIST: pediatric
#: chest radiographs, Kermany et al. 2018; BreastMNIST: breast ultrasound, Al-Dhabyani et al.
#: 2020), so that the predict command refuses other DICOM inputs.
INTENDED_USE: dict[str, dict[str, list[str]]] = {
    "pneumoniamnist": {"modalities": ["CR", "DX"], "body_parts": ["CHEST"]},
    "breastmnist": {"modalities": ["US"], "body_parts": ["BREAST"]},
}


@dataclass
class ModelInfo:
    """What a deployed model needs besides its weights."""

    class_names: list[str]  # classes, or labels of a multi-label model, in output order
    input_shape: list[int]  # (height, width, channels) the model takes
    threshold: float = 0.5  # on the probability of class 1 (binary models)
    #: How the outputs decide (:attr:`helpers.data.medmnist.MedMNISTInfo.task_kind`):
    #: "binary", "multi-class", "ordinal" or "multi-label"; empty (a sidecar written before
    #: the field existed): binary for two classes, else multi-class. See :attr:`kind`.
    task: str = ""
    #: Multi-label models: one threshold per label (e.g. chosen on validation); empty: 0.5 each.
    label_thresholds: list[float] = field(default_factory=list)
    source: str = ""  # dataset / recipe it was trained with
    extra: dict = field(default_factory=dict)
    #: What the model is for, checked by the predict command before it scores a file:
    #: ``modalities`` (DICOM Modality values, e.g. ["CR", "DX"]) and ``body_parts``
    #: (BodyPartExamined values, e.g. ["CHEST"]); an empty list or a missing key checks nothing.
    intended_use: dict = field(default_factory=dict)
    #: The out-of-distribution check (:mod:`helpers.deploy.ood`), when exported with one:
    #: ``features`` (a float32 TFLite model of the penultimate layer) and ``statistics``
    #: (an ``.npz``), file names beside the model, and the ``threshold`` and ``quantile``.
    ood: dict = field(default_factory=dict)

    def __post_init__(self):
        kinds = ("", "binary", "multi-class", "ordinal", "multi-label")
        if self.task not in kinds:
            raise ValueError(f"task must be one of {kinds[1:]}, not {self.task!r}")
        if self.label_thresholds and len(self.label_thresholds) != len(self.class_names):
            raise ValueError(
                f"{len(self.label_thresholds)} label thresholds for {len(self.class_names)} labels"
            )

    @property
    def kind(self) -> str:
        """The task kind the outputs are decided by (see :attr:`task`)."""
        return self.task or ("binary" if len(self.class_names) == 2 else "multi-class")

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
        except (TypeError, ValueError) as exc:  # bad JSON, unknown or invalid fields
            raise ValueError(f"{path}: not a valid model description: {exc}") from exc


def sidecar_path(model_path: Path) -> Path:
    """``model.keras`` -> ``model.keras.json``; a SavedModel folder -> ``folder.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


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
