"""Classify image files with an exported model: the ``predict`` command.

    python -m helpers predict --model exports/model_int8.tflite chest1.png scan.dcm
    medimg-predict --model exports/model.keras --json --gradcam overlays/ *.png

Reads PNG/JPEG (8- or 16-bit, any size, gray/RGB/RGBA), DICOM (MONOCHROME1/2, rescale
slope/intercept, VOI window) and ``.npz`` arrays with :mod:`helpers.data.imagefiles`, then
prepares them with :func:`helpers.data.preprocess.model_input`, the same function the
training pipeline uses. Prints one row per file with the class probabilities (a table,
or JSON with ``--json``). A file that cannot be read is reported by name on stderr, the
others are still processed, and the exit status is 1. Taught in
``notebooks/08_deployment.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import atomic
from helpers.data.imagefiles import ImageFileError, read_image
from helpers.data.preprocess import model_input, resize_image, to_channels
from helpers.deploy.export import LiteModel, ModelInfo, load_keras

NPZ_EXTENSIONS = {".npz"}


@dataclass
class Prediction:
    file: str
    probabilities: dict[str, float]
    predicted: str
    notes: list[str] = field(default_factory=list)
    overlay: str | None = None


class Predictor:
    """A deployed model (``.keras``, ``.tflite`` or SavedModel folder) with its sidecar
    :class:`helpers.deploy.export.ModelInfo`; ``probabilities`` takes prepared images and
    returns (N, n_classes)."""

    def __init__(self, model_path: str | Path, threads: int = 2):
        self.path = Path(model_path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such model file")
        self.info = ModelInfo.load(self.path)
        self.keras_model = None
        if self.path.suffix == ".keras":
            self.keras_model = load_keras(self.path)
            self._run = lambda x: self.keras_model(x, training=False).numpy()
        elif self.path.suffix == ".tflite":
            lite = LiteModel(self.path, threads=threads)
            self._run = lite.predict
        elif self.path.is_dir():
            import tensorflow as tf  # deferred: a .tflite model runs without TensorFlow

            serve = tf.saved_model.load(str(self.path)).signatures["serving_default"]
            self._run = lambda x: next(iter(serve(tf.constant(x)).values())).numpy()
        else:
            raise ValueError(f"{self.path}: not a .keras file, .tflite file or SavedModel folder")

    @property
    def image_size(self) -> int:
        return int(self.info.input_shape[0])

    @property
    def channels(self) -> int:
        return int(self.info.input_shape[-1])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One float image in [0, 1] (H, W, C) -> a model-ready batch of one."""

        return model_input(image[None], self.image_size, self.channels).numpy()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        out = np.asarray(self._run(np.asarray(batch, np.float32)), dtype=np.float64)
        if out.shape[-1] == 1:  # one sigmoid output: P(class 1)
            out = np.concatenate([1.0 - out, out], axis=-1)
        return out

    def decide(self, probabilities: np.ndarray) -> int:
        """Binary: class 1 when its probability reaches the stored threshold (chosen on
        validation); otherwise the most probable class."""
        if len(probabilities) == 2:
            return int(probabilities[1] >= self.info.threshold)
        return int(np.argmax(probabilities))


def read_npz_images(path: Path) -> list[tuple[str, np.ndarray]]:
    """Images from an ``.npz`` file: its only array, or the one named ``image``/``images``;
    (H, W), (H, W, C) or a stack (N, H, W[, C]); uint8 scaled by 1/255, float taken as [0, 1]."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = (
                keys[0]
                if len(keys) == 1
                else next((k for k in ("image", "images") if k in keys), None)
            )
            if key is None:
                raise ImageFileError(
                    f"{path}: {len(keys)} arrays ({', '.join(keys)}); expected one, "
                    "or one named 'image' or 'images'"
                )
            array = archive[key]
    except ImageFileError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise ImageFileError(f"{path}: not a readable .npz file: {exc}") from exc
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ImageFileError(f"{path}: float array outside [0, 1]; scale it first")
        array = array.astype(np.float32)
    else:
        raise ImageFileError(f"{path}: array dtype {array.dtype} is not uint8 or float")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3)):
        return [(str(path), array if array.ndim == 3 else array[..., None])]
    if array.ndim in (3, 4):
        stack = array[..., None] if array.ndim == 3 else array
        return [(f"{path}[{i}]", image) for i, image in enumerate(stack)]
    raise ImageFileError(
        f"{path}: array of shape {array.shape} is not an image or a stack of images"
    )


def read_inputs(path: Path) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """[(name, float image (H, W, C))], notes. Raises ImageFileError naming the file."""
    if path.suffix.lower() in NPZ_EXTENSIONS:
        return read_npz_images(path), []
    image, notes = read_image(path, channels=1)
    return [(str(path), image)], notes


def write_overlay(
    predictor: Predictor, image: np.ndarray, batch: np.ndarray, class_index: int, out: Path
) -> Path:
    """A Grad-CAM overlay PNG at the file's own resolution (``.keras`` models only)."""
    from matplotlib import colormaps  # deferred: only overlays need matplotlib

    from helpers.explain.maps import grad_cam  # deferred: imports TensorFlow

    if predictor.keras_model is None:
        raise ValueError(
            "a Grad-CAM overlay needs the .keras model "
            "(TFLite and SavedModel have no gradients here)"
        )
    heat = grad_cam(predictor.keras_model, batch[0], class_index)
    heat = heat / heat.max() if heat.max() > 0 else heat
    height, width = image.shape[:2]
    heat = resize_image(heat, (height, width))
    gray = to_channels(image[..., :3], 3)
    colored = colormaps["inferno"](np.clip(heat, 0, 1))[..., :3]
    blended = (0.55 * gray + 0.45 * colored) * 255
    with atomic.staged_file(out) as staging:
        Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)).save(staging, format="PNG")
    return out


def predict_files(
    predictor: Predictor, files: list[str | Path], gradcam_dir: str | Path | None = None
) -> tuple[list[Prediction], list[str]]:
    """Predictions for every readable file and one message per file that failed."""
    results, errors = [], []
    for file in files:
        path = Path(file)
        try:
            items, notes = read_inputs(path)
        except (ImageFileError, FileNotFoundError) as exc:
            errors.append(str(exc))
            continue
        for name, image in items:
            batch = predictor.prepare(image)
            p = predictor.probabilities(batch)[0]
            decided = predictor.decide(p)
            row = Prediction(
                file=name,
                probabilities={c: float(v) for c, v in zip(predictor.info.class_names, p)},
                predicted=predictor.info.class_names[decided],
                notes=list(notes),
            )
            if gradcam_dir is not None:
                safe = Path(name).name.replace("[", "_").replace("]", "")
                try:
                    row.overlay = str(
                        write_overlay(
                            predictor,
                            image,
                            batch,
                            decided,
                            Path(gradcam_dir) / f"{safe}.gradcam.png",
                        )
                    )
                except ValueError as exc:
                    errors.append(f"{name}: no overlay: {exc}")
            results.append(row)
    return results, errors


def format_table(results: list[Prediction], class_names: list[str]) -> str:
    header = ["file", *[f"P({c})" for c in class_names], "predicted"]
    rows = [
        [r.file, *[f"{r.probabilities[c]:.4f}" for c in class_names], r.predicted] for r in results
    ]
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows)]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers predict", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model",
        required=True,
        help=".keras, .tflite or SavedModel folder (with its .json sidecar)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--gradcam",
        metavar="DIR",
        help="write a Grad-CAM overlay PNG per file into DIR (.keras models)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="TFLite interpreter threads (default 2)"
    )
    parser.add_argument("files", nargs="+", help="PNG/JPEG/DICOM/.npz files")
    args = parser.parse_args(argv)
    try:
        predictor = Predictor(args.model, threads=args.threads)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results, errors = predict_files(predictor, args.files, args.gradcam)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    elif results:
        print(format_table(results, predictor.info.class_names))
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
