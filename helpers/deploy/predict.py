"""Classify image files with an exported model: the ``predict`` command.

    python -m helpers predict --model exports/model_int8.tflite chest1.png scan.dcm
    medimg-predict --model exports/model.keras --format jsonl --gradcam overlays/ *.png

Reads PNG/JPEG (8- or 16-bit, any size, gray/RGB/RGBA), DICOM (MONOCHROME1/2, rescale
slope/intercept, VOI window) and ``.npz`` arrays with :mod:`helpers.data.imagefiles`, then
prepares them exactly as the training pipeline does (:func:`helpers.data.preprocess.model_input`,
or its NumPy twin for TFLite models, which therefore run without importing TensorFlow).

Before it scores a file, the command judges it (:func:`judge`): pixel values must be finite,
the image no smaller than :data:`MIN_SIDE` on a side and not blank, and a DICOM file's
Modality and BodyPartExamined must be in the model's intended use (its sidecar,
:class:`helpers.deploy.lite.ModelInfo`), and, when the model was exported with the
out-of-distribution check of :mod:`helpers.deploy.ood`, its features must lie within the
threshold distance of the validation images' (the distance is in every row). A file that
fails is *refused* with the reason, never given a diagnosis; a file that cannot be read
*failed*. Every file gets one row, written as
soon as it is made (``--format table|csv|jsonl|json``), so one bad file never loses the
others' results. A row gives every class's probability and the class called, by the task
kind in the sidecar (:attr:`helpers.deploy.lite.ModelInfo.kind`): a binary model calls class 1
at its validation-chosen threshold, a multi-class or ordinal model its most probable class, a
multi-label model every label at or above its own threshold (joined by ``+``).

Exit status: 0 every file scored; 1 some refused or failed (their rows say why); 2 usage
error (no such model, bad arguments). Taught in ``notebooks/08_deployment.ipynb``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image

from helpers import atomic
from helpers.data.imagefiles import DICOM_EXTENSIONS, ImageFileError, read_image
from helpers.data.preprocess import model_input, model_input_array, resize_image, to_channels
from helpers.deploy.lite import LiteModel, ModelInfo
from helpers.deploy.ood import FeatureDistance

NPZ_EXTENSIONS = {".npz"}
#: Smallest side, in pixels, of an image the command scores (a thumbnail or a one-pixel file
#: carries no film to judge).
MIN_SIDE = 16
#: Below this range of values (max - min, in [0, 1]) an image is blank: one gray level.
BLANK_RANGE = 1.0 / 255
FORMATS = ("table", "csv", "jsonl", "json")
#: A multi-label model's ``predicted``: the labels it calls, joined; or NO_LABEL for none.
LABEL_JOIN = "+"
NO_LABEL = "(no label)"


@dataclass
class Prediction:
    """One row of the command's output: ``status`` is "scored", "refused" (the input is
    outside what the model can judge: ``reason`` says why) or "failed" (unreadable)."""

    file: str
    status: str
    probabilities: dict[str, float] = field(default_factory=dict)
    #: The class called; for a multi-label model the labels called, joined by LABEL_JOIN
    #: (NO_LABEL when none reaches its threshold).
    predicted: str | None = None
    reason: str = ""
    #: Distance of the image's features from the validation images' (helpers.deploy.ood),
    #: when the model was exported with that check; above ``ModelInfo.ood["threshold"]``
    #: the file is refused.
    ood_score: float | None = None
    notes: list[str] = field(default_factory=list)
    overlay: str | None = None


class Predictor:
    """A deployed model (``.keras``, ``.tflite`` or SavedModel folder) with its sidecar
    :class:`helpers.deploy.lite.ModelInfo`; ``probabilities`` takes prepared images and
    returns (N, n_classes). Only ``.keras`` and SavedModel models import TensorFlow."""

    def __init__(self, model_path: str | Path, threads: int = 2):
        self.path = Path(model_path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such model file")
        self.info = ModelInfo.load(self.path)
        self.keras_model = None
        self.uses_tensorflow = self.path.suffix != ".tflite"
        if self.path.suffix == ".keras":
            from helpers.deploy.export import load_keras  # deferred: imports TensorFlow

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
        self.feature_check, self._features = self._load_feature_check(threads)

    def _load_feature_check(self, threads: int):
        """The out-of-distribution check named in the sidecar, or (None, None)."""
        if not self.info.ood:
            return None, None
        folder = self.path.parent
        check = FeatureDistance.load(folder / self.info.ood["statistics"])
        if self.keras_model is not None:
            from helpers.evaluate.generative import feature_model  # deferred: TensorFlow

            model = feature_model(self.keras_model)
            return check, lambda x: model(x, training=False).numpy()
        return check, LiteModel(folder / self.info.ood["features"], threads=threads).predict

    def ood_score(self, batch: np.ndarray) -> float | None:
        """The feature distance of a prepared batch of one, or None without a check."""
        if self.feature_check is None:
            return None
        return float(self.feature_check.score(self._features(np.asarray(batch, np.float32)))[0])

    @property
    def image_size(self) -> int:
        return int(self.info.input_shape[0])

    @property
    def channels(self) -> int:
        return int(self.info.input_shape[-1])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One float image in [0, 1] (H, W, C) -> a model-ready batch of one."""
        if self.uses_tensorflow:
            return model_input(image[None], self.image_size, self.channels).numpy()
        return model_input_array(image[None], self.image_size, self.channels)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities; for a multi-label model each label's own probability."""
        out = np.asarray(self._run(np.asarray(batch, np.float32)), dtype=np.float64)
        if out.shape[-1] == 1:  # one sigmoid output: P(class 1)
            out = np.concatenate([1.0 - out, out], axis=-1)
        return out

    def decide(self, probabilities: np.ndarray) -> list[int]:
        """The classes the model calls, by its task kind (:attr:`ModelInfo.kind`): binary,
        class 1 when its probability reaches the stored threshold (chosen on validation);
        multi-class and ordinal, the most probable class; multi-label, every label whose
        probability reaches its threshold (none, one or several)."""
        kind = self.info.kind
        if kind == "multi-label":
            cuts = self.info.label_thresholds or [0.5] * len(probabilities)
            return [k for k, (p, cut) in enumerate(zip(probabilities, cuts)) if p >= cut]
        if kind == "binary":
            return [int(probabilities[1] >= self.info.threshold)]
        return [int(np.argmax(probabilities))]


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
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ImageFileError(
            f"{path}: not a readable .npz file (truncated or corrupt?): {exc}"
        ) from exc
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        finite = array[np.isfinite(array)]  # non-finite pixels are refused later, by judge()
        if finite.size and (finite.min() < 0 or finite.max() > 1):
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


def read_inputs(path: Path, channels: int = 1) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """[(name, float image (H, W, C))], notes. Image files are read with ``channels`` (the
    model's: a colour model keeps a colour file's colours, a gray file's value repeated);
    an ``.npz`` keeps its own. Raises ImageFileError naming the file."""
    if path.suffix.lower() in NPZ_EXTENSIONS:
        return read_npz_images(path), []
    image, notes = read_image(path, channels=channels)
    return [(str(path), image)], notes


def dicom_use(path: Path) -> dict[str, str]:
    """The DICOM attributes the intended use is checked against (Modality,
    BodyPartExamined), read from the header only; empty for other files."""
    if path.suffix.lower() not in DICOM_EXTENSIONS:
        return {}
    import pydicom  # deferred: only DICOM inputs need it (read_image has read the file already)

    header = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return {
        key: str(getattr(header, key, "") or "").strip().upper()
        for key in ("Modality", "BodyPartExamined")
    }


def judge(image: np.ndarray, info: ModelInfo, header: dict[str, str] | None = None) -> str:
    """Why ``image`` (float (H, W, C)) is outside what the model can judge, or "" if it is
    not: non-finite values, smaller than :data:`MIN_SIDE`, blank, or (DICOM) a modality or
    body part outside ``info.intended_use``."""
    if not np.isfinite(image).all():
        return "pixel values are not finite (NaN or infinity)"
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        return f"{height} x {width} pixels: smaller than {MIN_SIDE} on a side"
    if float(image.max() - image.min()) < BLANK_RANGE:
        return "blank image: every pixel has the same gray level"
    use, header = info.intended_use or {}, header or {}
    for key, allowed in (("Modality", "modalities"), ("BodyPartExamined", "body_parts")):
        wanted = [str(v).upper() for v in use.get(allowed, [])]
        have = header.get(key, "")
        if wanted and have and have not in wanted:
            return f"DICOM {key} {have} is outside the intended use ({', '.join(wanted)})"
    return ""


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
    predictor: Predictor, files: Iterable[str | Path], gradcam_dir: str | Path | None = None
) -> Iterator[Prediction]:
    """One :class:`Prediction` per image, yielded as soon as it is made: scored, refused
    (with the reason) or failed (unreadable, or an error while scoring). Never raises for a
    bad file, so the good files' results always come out."""
    for file in files:
        path = Path(file)
        try:
            items, notes = read_inputs(path, predictor.channels)
            header = dicom_use(path)
        except (ImageFileError, OSError) as exc:
            yield Prediction(file=str(path), status="failed", reason=str(exc))
            continue
        except Exception as exc:  # noqa: BLE001  (a reader's bug must not end the batch)
            yield Prediction(file=str(path), status="failed", reason=f"{type(exc).__name__}: {exc}")
            continue
        for name, image in items:
            yield _predict_one(predictor, name, image, list(notes), header, gradcam_dir)


def _predict_one(predictor, name, image, notes, header, gradcam_dir) -> Prediction:
    reason = judge(image, predictor.info, header)
    if reason:
        return Prediction(
            file=name, status="refused", reason=f"out of scope: {reason}", notes=notes
        )
    try:
        batch = predictor.prepare(image)
        distance = predictor.ood_score(batch)
        p = predictor.probabilities(batch)[0]
    except Exception as exc:  # noqa: BLE001  (one file's failure is its row, not the batch's end)
        return Prediction(
            file=name, status="failed", reason=f"{type(exc).__name__}: {exc}", notes=notes
        )
    if distance is not None and distance > predictor.feature_check.threshold:
        return Prediction(
            file=name,
            status="refused",
            reason=(
                f"out of scope: unlike the images the model was validated on (feature distance "
                f"{distance:.1f} > threshold {predictor.feature_check.threshold:.1f})"
            ),
            ood_score=distance,
            notes=notes,
        )
    decided = predictor.decide(p)
    names = predictor.info.class_names
    row = Prediction(
        file=name,
        status="scored",
        probabilities={c: float(v) for c, v in zip(names, p)},
        predicted=NO_LABEL if not decided else LABEL_JOIN.join(names[k] for k in decided),
        ood_score=distance,
        notes=notes,
    )
    if gradcam_dir is not None:
        safe = Path(name).name.replace("[", "_").replace("]", "")
        # the called class; for a multi-label model the most probable label
        shown = decided[0] if len(decided) == 1 else int(np.argmax(p))
        row.overlay = str(
            write_overlay(predictor, image, batch, shown, Path(gradcam_dir) / f"{safe}.gradcam.png")
        )
    return row


class RowWriter:
    """Writes :class:`Prediction` rows to ``stream`` one at a time, flushed, in one of
    :data:`FORMATS`: an aligned table (file column as wide as the longest input name), CSV,
    JSON lines, or one JSON array (its brackets written first and last)."""

    def __init__(self, stream: TextIO, fmt: str, class_names: list[str], file_width: int):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
        self.stream, self.fmt, self.class_names = stream, fmt, list(class_names)
        self.columns = [
            "file",
            "status",
            *[f"P({c})" for c in class_names],
            "predicted",
            "ood_score",
            "reason",
        ]
        self.widths = [max(file_width, 4), 7, *[max(len(f"P({c})"), 6) for c in class_names], 9, 9]
        self.count = 0
        self._csv = csv.writer(stream) if fmt == "csv" else None
        if fmt == "table":
            self._line(self.columns)
        elif fmt == "csv":
            self._csv.writerow(self.columns)
        elif fmt == "json":
            stream.write("[\n")
        stream.flush()

    def _line(self, values: list[str]) -> None:
        cells = [str(v).ljust(w) for v, w in zip(values, self.widths)] + [str(values[-1])]
        self.stream.write("  ".join(cells).rstrip() + "\n")

    def _values(self, row: Prediction) -> list[str]:
        probabilities = [
            f"{row.probabilities[c]:.4f}" if c in row.probabilities else "-"
            for c in self.class_names
        ]
        distance = "-" if row.ood_score is None else f"{row.ood_score:.2f}"
        return [row.file, row.status, *probabilities, row.predicted or "-", distance, row.reason]

    def write(self, row: Prediction) -> None:
        if self.fmt == "table":
            self._line(self._values(row))
        elif self.fmt == "csv":
            self._csv.writerow(self._values(row))
        else:
            text = json.dumps(asdict(row))
            prefix = ",\n" if self.fmt == "json" and self.count else ""
            self.stream.write(prefix + text + ("\n" if self.fmt == "jsonl" else ""))
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")
            self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers predict",
        description=__doc__.split("\n\n")[0],
        epilog="exit status: 0 every file scored, 1 some refused or failed, 2 usage error",
    )
    parser.add_argument(
        "--model",
        required=True,
        help=".keras, .tflite or SavedModel folder (with its .json sidecar)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output rows (default: table)"
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument(
        "--gradcam",
        metavar="DIR",
        help="write a Grad-CAM overlay PNG per scored file into DIR (.keras models only)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="TFLite interpreter threads (default 2)"
    )
    parser.add_argument("files", nargs="+", help="PNG/JPEG/DICOM/.npz files")
    args = parser.parse_args(argv)
    fmt = "json" if args.json else args.format
    if args.gradcam and Path(args.model).suffix != ".keras":
        print(
            f"error: --gradcam needs the .keras model ({args.model} has no gradients here)",
            file=sys.stderr,
        )
        return 2
    try:
        predictor = Predictor(args.model, threads=args.threads)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max(len(str(f)) for f in args.files) + 4  # room for an npz stack's "[i]"
    writer = RowWriter(sys.stdout, fmt, predictor.info.class_names, width)
    problems = 0
    for row in predict_files(predictor, args.files, args.gradcam):
        writer.write(row)
        if row.status != "scored":
            problems += 1
            named = row.reason if row.reason.startswith(row.file) else f"{row.file}: {row.reason}"
            print(f"{row.status}: {named}", file=sys.stderr)
    writer.close()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
