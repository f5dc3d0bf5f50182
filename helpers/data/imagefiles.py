"""Reading your own image files: PNG/JPEG (8- and 16-bit, gray/RGB/RGBA), DICOM, and
folders with one sub-folder per class (the layout of Keras
``image_dataset_from_directory``).

Taught in ``notebooks/01_data.ipynb`` (DICOM section); the predict command of
``08_deployment`` reads files through :func:`read_image` too, so preprocessing is one
function, not a copy.

Every image comes back as float32 in [0, 1] with shape (H, W, C). Files that load but
needed a conversion (alpha dropped, 16-bit scaled, MONOCHROME1 inverted, ...) get a
note naming the file. Files that cannot be loaded raise :class:`ImageFileError` naming
the file and the problem.

Folder policy: ``load_image_folder(..., on_error="raise")`` (the default) stops at the
first unreadable file, because a silently smaller dataset changes every number computed
from it; ``on_error="skip"`` loads the rest and lists each skipped file with its reason
in the returned :class:`LoadReport` (and warns once with the count). Hidden files
(``.DS_Store``, ``._x.png``) are ignored in both modes. An empty class folder or fewer
than ``min_classes`` class folders is always an error.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers import atomic
from helpers.data.preprocess import apply_window, resize_image, to_channels

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS | DICOM_EXTENSIONS


class ImageFileError(Exception):
    """An image file (or folder) cannot be used; the message names it and says why."""


@dataclass
class DicomImage:
    """A DICOM image in modality units (Hounsfield units for CT) plus what is needed
    to display it."""

    path: Path
    pixels: np.ndarray  # float32, rescale slope/intercept applied
    photometric: str
    modality: str
    window: tuple[float, float]  # (center, width) used for display
    notes: list[str] = field(default_factory=list)

    def display(self, window: tuple[float, float] | None = None) -> np.ndarray:
        """Windowed to [0, 1]; MONOCHROME1 (white = low values) inverted so that
        bright always means high."""
        center, width = window if window is not None else self.window
        shown = apply_window(self.pixels, center, width)
        if self.photometric == "MONOCHROME1":
            shown = 1.0 - shown
        return shown


def _first(value) -> float:
    """DICOM window values may be multi-valued: use the first."""
    try:
        return float(value[0])
    except (TypeError, IndexError):
        return float(value)


def read_dicom(path: str | Path, window: tuple[float, float] | None = None) -> DicomImage:
    """Read one DICOM file with pydicom: pixel data in modality units (RescaleSlope and
    RescaleIntercept applied), window from ``window``, else from the file
    (WindowCenter/WindowWidth), else the data's full range. Multi-frame files give the
    middle frame (noted)."""
    import pydicom  # deferred: PNG/JPEG reading needs no pydicom
    from pydicom.errors import InvalidDicomError  # deferred: with pydicom
    from pydicom.pixels import apply_modality_lut  # deferred: with pydicom

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as exc:
        raise ImageFileError(f"{path}: not a readable DICOM file ({exc})") from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageFileError(f"{path}: DICOM file has no pixel data (no PixelData element)")
    try:
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for missing decoders or bad data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageFileError(
            f"{path}: cannot decode the DICOM pixel data (transfer syntax {syntax}): {exc}"
        ) from exc
    notes: list[str] = []
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raw = raw[frames // 2]
        notes.append(f"multi-frame ({frames} frames): the middle frame is used")
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB"):
        raise ImageFileError(
            f"{path}: photometric interpretation {photometric} is not supported "
            "(MONOCHROME1, MONOCHROME2 and RGB are)"
        )
    pixels = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    if photometric == "MONOCHROME1":
        notes.append("MONOCHROME1 (white = low values): inverted for display")
    if window is None and "WindowCenter" in ds and "WindowWidth" in ds:
        window = (_first(ds.WindowCenter), _first(ds.WindowWidth))
    if window is None:
        low, high = float(pixels.min()), float(pixels.max())
        window = ((low + high) / 2.0, max(high - low, 1.0))
        notes.append("no window in the file: the full data range is shown")
    return DicomImage(
        path=path,
        pixels=pixels,
        photometric=photometric,
        modality=str(ds.get("Modality", "")),
        window=window,
        notes=notes,
    )


def write_dicom(
    path: str | Path,
    pixels: np.ndarray,
    *,
    modality: str = "OT",
    photometric: str = "MONOCHROME2",
    bits_stored: int = 16,
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = None,
    patient_name: str = "Anonymous",
    patient_id: str = "",
    with_pixels: bool = True,
) -> Path:
    """Write a minimal valid DICOM file (Secondary Capture, uint16 pixels, explicit VR
    little endian) with pydicom, atomically. For demonstrations and tests: the predict
    command and de-identification in ``notebooks/08_deployment.ipynb`` read such files.
    ``bits_stored`` below 16 (e.g. 12) declares how many bits the values use."""
    import pydicom  # deferred like read_dicom: reading PNGs needs no pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset  # deferred: with pydicom
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"{path}: expected one 2-D image, got shape {pixels.shape}")
    if pixels.min() < 0 or pixels.max() >= 2**bits_stored:
        raise ValueError(f"{path}: pixel values must lie in [0, 2**{bits_stored})")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = modality, patient_name, patient_id
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
    with atomic.staged_file(path) as staging:
        pydicom.dcmwrite(staging, ds, enforce_file_format=True)
    return Path(path)


def _pil_to_float(img: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    """PIL image -> float32 (H, W, C) in [0, 1], with alpha removed."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "1":
        img = img.convert("L")
        mode = "L"
    if mode == "CMYK" or mode == "YCbCr":
        img = img.convert("RGB")
        mode = "RGB"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float32) / 65535.0
        notes.append("16-bit image: scaled by 1/65535, full precision kept")
        return arr[..., None]
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageFileError(f"{path}: 32-bit integer image with values outside 0..65535")
        notes.append("16-bit image: scaled by 1/65535, full precision kept")
        return (arr.astype(np.float32) / 65535.0)[..., None]
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        low, high = float(arr.min()), float(arr.max())
        notes.append(f"floating-point image: min-max scaled from [{low:g}, {high:g}]")
        return ((arr - low) / (high - low if high > low else 1.0))[..., None]
    if mode in ("L", "LA", "RGB", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8).astype(np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[..., None]
        if mode in ("LA", "RGBA"):
            alpha = arr[..., -1:]
            arr = arr[..., :-1]
            if alpha.min() < 1.0:
                arr = arr * alpha
                notes.append("alpha channel is not fully opaque: composited onto black")
            else:
                notes.append("alpha channel (fully opaque) dropped")
        return arr
    raise ImageFileError(f"{path}: image mode {mode} is not supported")


def read_image(
    path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    channels: int = 1,
    window: tuple[float, float] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Read a PNG/JPEG/BMP/TIFF or DICOM file as float32 (H, W, ``channels``) in [0, 1],
    resized to ``size`` (height, width) when given. Returns ``(image, notes)``; notes
    say what was converted. Raises :class:`ImageFileError` naming the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file")
    notes: list[str] = []
    if suffix in DICOM_EXTENSIONS:
        dicom = read_dicom(path, window=window)
        notes.extend(dicom.notes)
        shown = dicom.display()
        arr = shown[..., None] if shown.ndim == 2 else shown
    elif suffix in IMAGE_EXTENSIONS:
        try:
            with Image.open(path) as img:
                img.load()  # decode now, so truncated or corrupt files fail here
                arr = _pil_to_float(img, path, notes)
        except ImageFileError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageFileError(
                f"{path}: not a readable image (corrupt or truncated?): {exc}"
            ) from exc
    else:
        raise ImageFileError(
            f"{path}: not an image file (extension {suffix or 'none'!r}); supported: "
            f"{', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )
    if arr.shape[-1] != channels:
        notes.append(f"{arr.shape[-1]} channel(s) converted to {channels}")
    arr = to_channels(arr, channels)
    if size is not None:
        arr = np.clip(resize_image(arr, size), 0.0, 1.0)
    return arr.astype(np.float32, copy=False), notes


@dataclass
class LoadReport:
    """What a folder load noticed: files loaded with a conversion, and files skipped."""

    notes: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.notes)} note(s), {len(self.skipped)} skipped file(s)"]
        lines += [f"  skipped {p.name}: {why}" for p, why in self.skipped]
        lines += [f"  note {p.name}: {what}" for p, what in self.notes]
        return "\n".join(lines)


@dataclass
class FolderDataset:
    """Images from a class-per-folder tree: float32 (N, H, W, C) in [0, 1]."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[Path]
    report: LoadReport


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def load_image_folder(
    root: str | Path,
    *,
    size: tuple[int, int] = (64, 64),
    channels: int = 1,
    on_error: Literal["raise", "skip"] = "raise",
    min_classes: int = 2,
    window: tuple[float, float] | None = None,
) -> FolderDataset:
    """Load ``root/<class name>/<image files>`` (PNG, JPEG, BMP, TIFF, DICOM), sorted by
    class name then file name; labels are class indices in that order.

    See the module docstring for the error policy (``on_error``).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    root = Path(root)
    if not root.is_dir():
        raise ImageFileError(f"{root}: not a folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if len(class_dirs) < min_classes:
        found = ", ".join(repr(p.name) for p in class_dirs) or "none"
        raise ImageFileError(
            f"{root}: found {len(class_dirs)} class folder(s) ({found}); a classifier needs "
            f"at least {min_classes} (one sub-folder per class)"
        )
    report = LoadReport()
    images, labels, paths = [], [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and _visible(p))
        loaded = 0
        for file in files:
            try:
                arr, notes = read_image(file, size=size, channels=channels, window=window)
            except ImageFileError as exc:
                if on_error == "raise":
                    raise
                report.skipped.append((file, str(exc).removeprefix(f"{file}: ")))
                continue
            report.notes.extend((file, note) for note in notes)
            images.append(arr)
            labels.append(index)
            paths.append(file)
            loaded += 1
        if loaded == 0:
            why = "is empty" if not files else f"has no readable image among {len(files)} file(s)"
            raise ImageFileError(f"{class_dir}: class folder {class_dir.name!r} {why}")
    if report.skipped:
        warnings.warn(
            f"{root}: skipped {len(report.skipped)} unreadable file(s); see the report",
            stacklevel=2,
        )
    return FolderDataset(
        images=np.stack(images).astype(np.float32),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=[p.name for p in class_dirs],
        paths=paths,
        report=report,
    )


def _natural_key(path: Path) -> list:
    """Sort 'visit2' before 'visit10'."""

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _image_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and _visible(p)), key=_natural_key)


def load_mask_pairs(
    images_dir: str | Path,
    masks_dir: str | Path,
    *,
    size: tuple[int, int] = (64, 64),
    mask_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images and their segmentation masks from two folders, paired by file stem
    (``images/case01.png`` with ``masks/case01.png``; extensions may differ).

    Returns images float32 (N, H, W, 1), masks bool (N, H, W) (mask pixels above
    ``mask_threshold`` after scaling to [0, 1]) and the stems. An image without a mask,
    a mask without an image, or an empty folder is an error naming the files.
    Taught in ``06_segmentation_detection``."""
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise ImageFileError(f"{folder}: not a folder")
    images = {p.stem: p for p in _image_files(images_dir)}
    masks = {p.stem: p for p in _image_files(masks_dir)}
    if not images:
        raise ImageFileError(f"{images_dir}: no image files")
    unmatched_images = sorted(set(images) - set(masks))
    unmatched_masks = sorted(set(masks) - set(images))
    if unmatched_images:
        raise ImageFileError(
            f"{masks_dir}: no mask for image(s) "
            f"{', '.join(images[s].name for s in unmatched_images)}"
        )
    if unmatched_masks:
        raise ImageFileError(
            f"{images_dir}: no image for mask(s) "
            f"{', '.join(masks[s].name for s in unmatched_masks)}"
        )
    stems = sorted(images, key=lambda s: _natural_key(images[s]))
    x = np.stack([read_image(images[s], size=size)[0] for s in stems])
    y = np.stack([read_image(masks[s], size=size)[0][..., 0] > mask_threshold for s in stems])
    return x, y, stems


def load_series_folder(
    root: str | Path, *, size: tuple[int, int] = (64, 64), min_visits: int = 2
) -> tuple[list[str], list[np.ndarray]]:
    """A user's follow-up series: ``root/<patient>/<visit files>``, visits ordered by file
    name in natural order (``visit2`` before ``visit10``). Returns the patient names and,
    per patient, a float32 array (T, H, W, 1). A patient with fewer than ``min_visits``
    readable images is an error naming the folder. Taught in ``07_progression``."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFileError(f"{root}: not a folder")
    patients = sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=_natural_key)
    if not patients:
        raise ImageFileError(f"{root}: no patient folders (expected one sub-folder per patient)")
    names, series = [], []
    for patient in patients:
        files = _image_files(patient)
        if len(files) < min_visits:
            raise ImageFileError(
                f"{patient}: {len(files)} visit image(s); a series needs at least {min_visits}"
            )
        names.append(patient.name)
        series.append(np.stack([read_image(f, size=size)[0] for f in files]))
    return names, series
