"""Reading your own image files: PNG/JPEG/BMP/TIFF (8- and 16-bit, gray/RGB/RGBA), DICOM,
folders with one sub-folder per class (the layout of Keras
``image_dataset_from_directory``), image/mask folder pairs and follow-up series.

Taught in ``notebooks/01_data.ipynb`` (DICOM section, :func:`read_dicom`,
:func:`read_image`, :func:`load_image_folder`), ``06_segmentation_detection``
(:func:`load_mask_pairs`) and ``07_progression`` (:func:`load_series_folder`); the predict
command of ``08_deployment`` reads files through :func:`read_image` too, so preprocessing
is one function, not a copy.

Every image comes back as float32 in [0, 1] with shape (H, W, C). Files that load but
needed a conversion (alpha dropped, 16-bit scaled, MONOCHROME1 inverted, ...) get a
note naming the file. Files that cannot be loaded raise :class:`ImageFileError` naming
the file, the problem and what to do; no other exception escapes for a bad *file*
(a bad *argument*, such as a window of width 0 or ``channels=2``, is a ``ValueError``
raised before any file is opened).

The rules, in one place:

* **Pixel limit before decoding.** The header's size is read first (Pillow opens
  lazily; DICOM gives Rows x Columns) and an image with more than ``max_pixels`` pixels
  (default :data:`DEFAULT_MAX_PIXELS` = 8192 x 8192, about 67 Mpx) is refused before
  any pixel is decoded; pass a larger ``max_pixels=`` (or ``None``) when you have the
  memory. Pillow's own decompression-bomb limit still applies above that.
* **Bit depth from the data.** 8-bit files are scaled by 1/255. A 16-bit (or 32-bit
  integer) file is scaled by ``1 / (2**b - 1)`` for the smallest ``b`` of 8, 10, 12, 14,
  16 that holds its maximum value, so 12-bit data in a 16-bit PNG (max <= 4095) is
  scaled by 1/4095 rather than read as near-black; the note says which ``b`` was used.
  (A genuinely 16-bit image that is merely dark is therefore brightened: the file
  cannot tell the two apart.) Floating-point files are min-max scaled (noted).
  DICOM uses its header instead: pydicom keeps only the BitsStored low bits, the
  modality LUT (RescaleSlope/RescaleIntercept) gives modality units, and the display
  window is the file's WindowCenter/WindowWidth or the caller's ``window``.
* **DICOM windows.** An absent, empty, non-numeric, non-finite or non-positive
  WindowCenter/WindowWidth does not fail the file: the data range (min..max) is used
  instead, with a note saying why.
* **NaN and infinity** (float TIFF, or a DICOM rescale that overflows) are refused.
* **Masks** (:func:`read_mask`): non-zero = lesion, for bool, 0/1, 0/255 and 16-bit
  masks alike; a gray-valued RGB(A) mask (R = G = B, opaque) is accepted, a mask with
  colour or transparency is refused naming the file. JPEG is lossy, so a JPEG mask
  counts pixels of at least half its maximum (compression noise near zero is not
  lesion); noted.

Folder policy: ``load_image_folder(..., on_error="raise")`` (the default) stops at the
first unreadable file, because a silently smaller dataset changes every number computed
from it; ``on_error="skip"`` loads the rest and lists each skipped file with its reason
in the returned :class:`LoadReport` (and warns once with the count). What counts as
unreadable, in every loader: a file that :func:`read_image` refuses, a broken symbolic
link, a pipe/socket/device, a **nested sub-folder** inside a class (patient, images or
masks) folder (sub-folders are *reported, never read*: move their images up), several
files with the **same stem** in one folder (``case01.png`` + ``case01.jpg``: which one is
meant is ambiguous, so all of them are reported), and an image file lying directly in
the root, outside any class or patient folder. :func:`load_mask_pairs` and
:func:`load_series_folder` have no skip mode: each of these is an error there. Hidden
files and folders (``.DS_Store``, ``._x.png``, ``.ipynb_checkpoints``) and the
``__MACOSX``, ``Thumbs.db`` and ``desktop.ini`` clutter of zip files and file browsers
are ignored, and so are non-image files in the root (a README or a CSV of labels next to
the class folders). An empty class folder or fewer than ``min_classes`` class folders is
always an error.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers import atomic
from helpers.data.preprocess import apply_window, resize_image, to_channels

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS | DICOM_EXTENSIONS

#: Default pixel limit (8192 x 8192, about 67 Mpx), checked on the header before decoding.
DEFAULT_MAX_PIXELS = 8192 * 8192
#: Candidate bit depths for integer files wider than 8 bits (see the module docstring).
BIT_DEPTHS = (8, 10, 12, 14, 16)
#: The Pillow formats read (whatever the extension says: a JPEG named .png still loads).
PIL_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "TIFF")  # JPEG includes MPO
#: Clutter left by zip files and file browsers, ignored like hidden files.
IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})

_LOSSY_FORMATS = frozenset({"JPEG", "MPO"})


class ImageFileError(Exception):
    """An image file (or folder) cannot be used; the message names it, says why and what
    to do."""


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


# ---- argument checks (ValueError: the caller's mistake, not the file's) ------------------


def _check_window(window: tuple[float, float] | None) -> None:
    if window is None:
        return
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"window must be (center, width), got {window!r}") from exc
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ValueError(f"window width must be positive and finite, got {window!r}")


def _check_max_pixels(max_pixels: int | None) -> None:
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels <= 0):
        raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")


def _check_size(size: tuple[int, int] | None) -> None:
    if size is None:
        return
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) for v in size) or min(size) <= 0:
        raise ValueError(f"size must be (height, width) in positive pixels, got {size!r}")


def _check_pixel_limit(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image whose header announces more than ``max_pixels`` pixels."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageFileError(
            f"{path}: {width} x {height} pixels ({width * height / 1e6:.0f} Mpx) exceeds the "
            f"limit of {max_pixels / 1e6:.0f} Mpx (max_pixels={max_pixels}); refused before "
            "decoding. Downsample the file, or pass a larger max_pixels= if you have the memory"
        )


# ---- single files ----------------------------------------------------------------------


def _check_file(path: Path) -> None:
    """A readable regular file, or an :class:`ImageFileError` saying what it is instead."""
    if path.is_symlink() and not path.exists():
        try:
            target = os.readlink(path)
        except OSError:  # pragma: no cover - the link vanished meanwhile
            target = "?"
        raise ImageFileError(
            f"{path}: broken symbolic link (points to {target}, which does not exist); "
            "fix the link or remove it"
        )
    if not path.exists():
        raise ImageFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImageFileError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise ImageFileError(
            f"{path}: not a regular file (a pipe, socket or device); copy the image into an "
            "ordinary file"
        )
    if path.stat().st_size == 0:
        raise ImageFileError(
            f"{path}: empty file (0 bytes); the copy or download did not finish, export it again"
        )


def _first(value: Any) -> float:
    """DICOM window values may be multi-valued: use the first. Raises ValueError or
    TypeError for an empty or non-numeric value."""
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        raise ValueError("empty")
    if isinstance(value, (str, bytes)):
        return float(value)
    try:
        return float(value[0])
    except (TypeError, IndexError, KeyError):
        return float(value)


def _file_window(ds: Any, notes: list[str]) -> tuple[float, float] | None:
    """The (center, width) stored in the file, or None with a note when it is unusable."""
    has_center, has_width = "WindowCenter" in ds, "WindowWidth" in ds
    if not has_center and not has_width:
        return None
    if has_center != has_width:
        missing = "WindowWidth" if has_center else "WindowCenter"
        notes.append(f"{missing} missing from the file: window ignored")
        return None
    raw = (ds.get("WindowCenter"), ds.get("WindowWidth"))
    try:
        center, width = _first(raw[0]), _first(raw[1])
    except (TypeError, ValueError):
        notes.append(
            f"WindowCenter/WindowWidth in the file are empty or not numbers ({raw[0]!r}, "
            f"{raw[1]!r}): window ignored"
        )
        return None
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        notes.append(
            f"window in the file (center {center:g}, width {width:g}) is unusable (the width "
            "must be positive and finite): window ignored"
        )
        return None
    return center, width


def _dicom_int(ds: Any, keyword: str, path: Path, default: int) -> int:
    """An integer header value (``default`` when absent or empty), or an
    :class:`ImageFileError` when it is not a whole number."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ImageFileError(
            f"{path}: DICOM {keyword} is {value!r}, not a whole number; the header is broken, "
            "export the image again"
        ) from exc


def _sniff(path: Path) -> str | None:
    """'PNG', 'JPEG' or None, from the first bytes (for a hint when a name lies)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    return None


def read_dicom(
    path: str | Path,
    window: tuple[float, float] | None = None,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> DicomImage:
    """Read one DICOM file with pydicom: pixel data in modality units (RescaleSlope and
    RescaleIntercept applied), window from ``window``, else from the file
    (WindowCenter/WindowWidth, if usable), else the data's full range (noted).
    Multi-frame files give the middle frame (noted; only that frame is decoded).

    Rows x Columns is checked against ``max_pixels`` before the pixel data is read.
    Raises :class:`ImageFileError` naming the file for every problem with the file, and
    ``ValueError`` for an invalid ``window``."""
    _check_window(window)
    _check_max_pixels(max_pixels)
    path = Path(path)
    _check_file(path)
    try:
        return _read_dicom(path, window, max_pixels)
    except ImageFileError:
        raise
    except MemoryError as exc:
        raise ImageFileError(
            f"{path}: not enough memory to decode the pixel data; lower max_pixels="
        ) from exc
    except Exception as exc:  # pydicom and its decoders raise many types for bad files
        raise ImageFileError(
            f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc}); export it again "
            "from the scanner or PACS"
        ) from exc


def _read_dicom(
    path: Path, window: tuple[float, float] | None, max_pixels: int | None
) -> DicomImage:
    import pydicom  # deferred: PNG/JPEG reading needs no pydicom
    from pydicom.errors import InvalidDicomError  # deferred: with pydicom
    from pydicom.pixels import apply_modality_lut, pixel_array  # deferred: with pydicom

    try:
        # Large elements (the pixel data) are read only when used, after the size check.
        ds = pydicom.dcmread(path, defer_size="256 KB")
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as exc:
        actual = _sniff(path)
        hint = (
            f"it is a {actual} file with a DICOM name: rename it to .{actual.lower()}"
            if actual
            else "is it DICOM at all? export it again from the scanner or PACS"
        )
        raise ImageFileError(f"{path}: not a readable DICOM file ({exc}); {hint}") from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageFileError(
            f"{path}: DICOM file has no pixel data (no PixelData element); it is probably a "
            "report or structure set, not an image"
        )
    rows, columns = _dicom_int(ds, "Rows", path, 0), _dicom_int(ds, "Columns", path, 0)
    if rows <= 0 or columns <= 0:
        raise ImageFileError(
            f"{path}: DICOM header gives Rows x Columns = {rows} x {columns}; the header is "
            "broken, export the image again"
        )
    _check_pixel_limit(path, columns, rows, max_pixels)
    notes: list[str] = []
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB"):
        raise ImageFileError(
            f"{path}: photometric interpretation {photometric} is not supported "
            "(MONOCHROME1, MONOCHROME2 and RGB are); convert the file first"
        )
    frames = _dicom_int(ds, "NumberOfFrames", path, 1)
    if frames < 1:
        raise ImageFileError(f"{path}: DICOM NumberOfFrames is {frames}; the header is broken")
    try:
        raw = pixel_array(ds, index=frames // 2) if frames > 1 else ds.pixel_array
    except Exception as exc:  # pydicom raises many types for missing decoders or bad data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageFileError(
            f"{path}: cannot decode the DICOM pixel data (transfer syntax {syntax}): {exc}; "
            "the file is truncated or needs a decoder plugin (pylibjpeg, gdcm)"
        ) from exc
    if frames > 1:
        notes.append(f"multi-frame ({frames} frames): the middle frame is used")
    expected = 3 if photometric == "RGB" else 2
    if raw.ndim != expected or (expected == 3 and raw.shape[-1] != 3):
        raise ImageFileError(
            f"{path}: pixel data of shape {raw.shape} does not match photometric "
            f"interpretation {photometric}; the header is inconsistent"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
        pixels = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    if not np.isfinite(pixels).all():
        raise ImageFileError(
            f"{path}: pixel values are NaN or infinite after the rescale (RescaleSlope "
            f"{ds.get('RescaleSlope', 1)!r}, RescaleIntercept {ds.get('RescaleIntercept', 0)!r});"
            " fix those header values"
        )
    if photometric == "MONOCHROME1":
        notes.append("MONOCHROME1 (white = low values): inverted for display")
    bits_stored = ds.get("BitsStored")
    bits_allocated = ds.get("BitsAllocated")
    if bits_stored and bits_allocated and int(bits_stored) < int(bits_allocated):
        notes.append(
            f"{int(bits_stored)} of {int(bits_allocated)} bits stored (BitsStored): "
            "the unused high bits are ignored"
        )
    if window is None:
        window = _file_window(ds, notes)
    if window is None:
        low, high = float(pixels.min()), float(pixels.max())
        window = ((low + high) / 2.0, max(high - low, 1.0))
        if not any("window ignored" in n for n in notes):
            notes.append("no window in the file: the full data range is shown")
        else:
            notes.append(f"the full data range [{low:g}, {high:g}] is shown instead")
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
    body_part: str | None = None,
    with_pixels: bool = True,
) -> Path:
    """Write a minimal valid DICOM file (Secondary Capture, uint16 pixels, explicit VR
    little endian) with pydicom, atomically. For demonstrations and tests: the predict
    command and de-identification in ``notebooks/08_deployment.ipynb`` read such files.
    ``bits_stored`` below 16 (e.g. 12) declares how many bits the values use; ``body_part``
    sets BodyPartExamined (e.g. "CHEST")."""
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
    if body_part is not None:
        ds.BodyPartExamined = body_part
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
    with atomic.staged_file(path) as staging:
        pydicom.dcmwrite(staging, ds, enforce_file_format=True)
    return Path(path)


def _bits_for(max_value: int) -> int | None:
    """The smallest of :data:`BIT_DEPTHS` whose range holds ``max_value`` (None: none)."""
    return next((b for b in BIT_DEPTHS if max_value <= 2**b - 1), None)


def _integer_to_float(arr: np.ndarray, path: Path, notes: list[str], kind: str) -> np.ndarray:
    """Scale 16-bit (or 32-bit integer) data by the bit-depth rule of the module docstring."""
    low, high = int(arr.min()), int(arr.max())
    bits = _bits_for(high)
    if low < 0 or bits is None:
        raise ImageFileError(
            f"{path}: {kind} image with values {low}..{high}, outside 0..65535; "
            "save it as 8- or 16-bit unsigned"
        )
    if bits == 16:
        notes.append("16-bit image: scaled by 1/65535, full precision kept")
    else:
        notes.append(
            f"{kind} image holding {bits}-bit data (max {high}): scaled by 1/{2**bits - 1}, "
            "not 1/65535 (bit depth from the data)"
        )
    return (arr.astype(np.float32) / float(2**bits - 1))[..., None]


def _pil_to_float(img: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    """PIL image -> float32 (H, W, C) in [0, 1], with alpha removed."""
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
        mode = img.mode
    if mode == "1":
        img = img.convert("L")
        mode = "L"
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
        mode = "RGB"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _integer_to_float(np.asarray(img).astype(np.int64), path, notes, "16-bit")
    if mode == "I":
        return _integer_to_float(np.asarray(img, dtype=np.int64), path, notes, "32-bit integer")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ImageFileError(
                f"{path}: floating-point image with {bad} NaN or infinite pixel(s); "
                "replace them (e.g. by 0) before saving"
            )
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
    raise ImageFileError(
        f"{path}: image mode {mode} is not supported; save it as 8- or 16-bit gray or RGB"
    )


def _open_pil(
    path: Path, max_pixels: int | None, notes: list[str], decode: Callable[[Image.Image], Any]
) -> Any:
    """Open with Pillow, check the header size, decode, and turn every failure into an
    :class:`ImageFileError`. ``decode`` gets the loaded image."""
    try:
        with warnings.catch_warnings():
            if max_pixels is not None:  # our own limit decides, just below
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=PIL_FORMATS)  # lazy: only the header is read
        with img:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageFileError(f"{path}: image header gives {width} x {height} pixels")
            _check_pixel_limit(path, width, height, max_pixels)
            suffix = path.suffix.lower()
            expected = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
            expected |= {".tif": "TIFF", ".tiff": "TIFF"}
            if (
                img.format
                and expected.get(suffix) not in (img.format, None)
                and not (img.format == "MPO" and suffix in (".jpg", ".jpeg"))
            ):
                notes.append(f"the file is {img.format} although named {suffix}: read as such")
            frames = int(getattr(img, "n_frames", 1) or 1)
            if frames > 1:
                notes.append(f"{frames} frames in the file: the first is used")
            img.load()  # decode now, so truncated or corrupt files fail here
            return decode(img)
    except ImageFileError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageFileError(
            f"{path}: refused as a decompression bomb by Pillow ({exc}); downsample the file"
        ) from exc
    except UnidentifiedImageError as exc:
        hint = (
            "it is a DICOM file: rename it to .dcm"
            if _is_dicom_bytes(path)
            else "the file is corrupt or not a PNG/JPEG/BMP/TIFF; export it again"
        )
        raise ImageFileError(
            f"{path}: not a readable image (corrupt or truncated?): {exc}; {hint}"
        ) from exc
    except MemoryError as exc:
        raise ImageFileError(
            f"{path}: not enough memory to decode the image; lower max_pixels="
        ) from exc
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        raise ImageFileError(
            f"{path}: not a readable image (corrupt or truncated?): {exc}; export or "
            "download it again"
        ) from exc


def _is_dicom_bytes(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _check_extension(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ImageFileError(
            f"{path}: not an image file (extension {suffix or 'none'!r}); supported: "
            f"{', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )
    return suffix


def read_image(
    path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    channels: int = 1,
    window: tuple[float, float] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, list[str]]:
    """Read a PNG/JPEG/BMP/TIFF or DICOM file as float32 (H, W, ``channels``) in [0, 1],
    resized to ``size`` (height, width) when given. Returns ``(image, notes)``; notes
    say what was converted. ``window`` (center, width) applies to DICOM only.

    Images with more than ``max_pixels`` pixels are refused from the header, before
    decoding (``None``: no limit of ours). The bit-depth, window and NaN rules are in the
    module docstring. Raises :class:`ImageFileError` naming the file for every problem
    with the file, and ``ValueError`` for invalid arguments."""
    _check_size(size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    _check_window(window)
    _check_max_pixels(max_pixels)
    path = Path(path)
    _check_file(path)
    suffix = _check_extension(path)
    notes: list[str] = []
    if suffix in DICOM_EXTENSIONS:
        dicom = read_dicom(path, window=window, max_pixels=max_pixels)
        notes.extend(dicom.notes)
        shown = dicom.display()
        arr = shown[..., None] if shown.ndim == 2 else shown
    else:
        arr = _open_pil(path, max_pixels, notes, lambda img: _pil_to_float(img, path, notes))
    if not np.isfinite(arr).all():  # pragma: no cover - every path above refuses NaN first
        raise ImageFileError(f"{path}: NaN or infinite pixel values; the file is corrupt")
    if arr.shape[-1] != channels:
        notes.append(f"{arr.shape[-1]} channel(s) converted to {channels}")
    arr = to_channels(arr, channels)
    if size is not None:
        arr = np.clip(resize_image(arr, size), 0.0, 1.0)
    return arr.astype(np.float32, copy=False), notes


# ---- masks -----------------------------------------------------------------------------


def _mask_from_array(
    values: np.ndarray, path: Path, notes: list[str], *, lossy: bool, alpha: np.ndarray | None
) -> np.ndarray:
    """The non-zero rule on (H, W) or (H, W, 3) values; colour and transparency refused."""
    if alpha is not None and alpha.size and int(alpha.min()) < 255:
        raise ImageFileError(
            f"{path}: mask has transparency (alpha below 255 at "
            f"{int(np.count_nonzero(alpha < 255))} pixel(s)); a mask must be one opaque gray "
            "channel: save it as 0/255 gray, non-zero = lesion"
        )
    if values.ndim == 3:
        spread = values.max(axis=-1).astype(np.int64) - values.min(axis=-1).astype(np.int64)
        tolerance = 16 if lossy else 0
        coloured = spread > tolerance
        if coloured.any():
            where = tuple(int(v) for v in np.argwhere(coloured)[0])
            example = tuple(int(v) for v in values[where])
            raise ImageFileError(
                f"{path}: colour mask ({int(coloured.sum())} pixel(s) with R, G, B unequal, "
                f"e.g. {example} at row {where[0]}, column {where[1]}); which colour means "
                "lesion is ambiguous: save one gray channel, 0 = background, non-zero = lesion"
            )
        values = values.max(axis=-1)
        notes.append("gray-valued RGB mask: one channel used")
    if values.dtype.kind == "f":
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise ImageFileError(
                f"{path}: mask with {bad} NaN or infinite pixel(s); save it as 0/255 gray"
            )
    if lossy:
        high = float(values.max())
        mask = values >= high / 2.0 if high > 0 else np.zeros(values.shape, bool)
        notes.append(
            "JPEG mask (lossy): pixels of at least half the maximum are lesion, so compression "
            "noise is not; save masks as PNG"
        )
        return mask
    levels = np.unique(values)
    nonzero = levels[levels != 0]
    if nonzero.size > 1:
        notes.append(
            f"mask has {nonzero.size} distinct non-zero values (a soft mask or label map?): "
            "all non-zero pixels are lesion"
        )
    return values != 0


def _pil_mask(img: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    mode = img.mode
    lossy = img.format in _LOSSY_FORMATS
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "CMYK" or mode == "YCbCr":
        img = img.convert("RGB")
        mode = "RGB"
    if mode == "1":
        return np.asarray(img, dtype=bool)
    if mode in ("L", "I", "F") or mode.startswith("I;16"):
        return _mask_from_array(np.asarray(img), path, notes, lossy=lossy, alpha=None)
    if mode in ("LA", "RGB", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8)
        alpha = arr[..., -1] if mode in ("LA", "RGBA") else None
        values = arr[..., :-1] if alpha is not None else arr
        if mode == "LA":
            values = values[..., 0]
        return _mask_from_array(values, path, notes, lossy=lossy, alpha=alpha)
    raise ImageFileError(f"{path}: mask image mode {mode} is not supported; save it as 0/255 gray")


def read_mask(
    path: str | Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, list[str]]:
    """Read a segmentation mask as bool (H, W) by the rule **non-zero = lesion** (bool,
    0/1, 0/255, 16-bit and label masks alike; a DICOM mask by its non-zero modality
    values). Gray-valued RGB(A) masks are accepted; masks with colour or transparency,
    and NaN values, are refused naming the file; JPEG masks count pixels of at least half
    their maximum (noted). Returns ``(mask, notes)``."""
    _check_max_pixels(max_pixels)
    path = Path(path)
    _check_file(path)
    suffix = _check_extension(path)
    notes: list[str] = []
    if suffix in DICOM_EXTENSIONS:
        dicom = read_dicom(path, window=(0.0, 1.0), max_pixels=max_pixels)
        notes.extend(n for n in dicom.notes if "MONOCHROME1" not in n)
        return _mask_from_array(dicom.pixels, path, notes, lossy=False, alpha=None), notes
    return _open_pil(path, max_pixels, notes, lambda img: _pil_mask(img, path, notes)), notes


# ---- folders ---------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What a folder load noticed: files loaded with a conversion, and files (or
    entries: broken links, sub-folders) skipped, each with the reason."""

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
    return not path.name.startswith(".") and path.name not in IGNORED_NAMES


def _natural_key(path: Path) -> list:
    """Sort 'visit2' before 'visit10'."""

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if _visible(p)]
    except OSError as exc:
        raise ImageFileError(f"{folder}: cannot list the folder ({exc})") from exc


def _scan(
    folder: Path, what: str, key: Callable[[Path], Any] | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files of a leaf folder (class, patient, images or masks folder) that can be
    read, and the entries that cannot, with the reason: broken links, sub-folders,
    special files and files sharing a stem. Both lists are sorted by ``key``."""
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for entry in sorted(_entries(folder), key=key):
        if entry.is_symlink() and not entry.exists():
            problems.append(
                (
                    entry,
                    f"broken symbolic link (points to {os.readlink(entry)}, which does not "
                    "exist); fix the link or remove it",
                )
            )
        elif entry.is_dir():
            problems.append(
                (
                    entry,
                    f"sub-folder inside {what} folder {folder.name!r}: sub-folders are not read; "
                    f"move its images up into {folder.name!r}, or out of the tree",
                )
            )
        elif not entry.is_file():
            problems.append(
                (entry, "not a regular file (a pipe, socket or device); remove it from the folder")
            )
        else:
            files.append(entry)
    by_stem: dict[str, list[Path]] = {}
    for file in files:
        by_stem.setdefault(file.stem, []).append(file)
    duplicated = {s: group for s, group in by_stem.items() if len(group) > 1}
    for file in files:
        group = duplicated.get(file.stem)
        if group:
            others = ", ".join(p.name for p in group if p != file)
            problems.append(
                (
                    file,
                    f"duplicate stem {file.stem!r} (also {others} in {folder.name!r}): which file "
                    "is meant is ambiguous; keep one file per case",
                )
            )
    files = [f for f in files if f.stem not in duplicated]
    problems.sort(key=lambda item: key(item[0]) if key else item[0])
    return files, problems


def _stray_images(root: Path, what: str) -> list[tuple[Path, str]]:
    """Image files directly in a root that should hold only sub-folders."""
    return [
        (
            p,
            f"image file directly in {root.name!r}, outside any {what} folder: "
            f"move it into its {what} folder",
        )
        for p in sorted(_entries(root))
        if p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.is_dir()
    ]


def _sub_folders(root: Path, key: Callable[[Path], Any] | None = None) -> list[Path]:
    return sorted((p for p in _entries(root) if p.is_dir()), key=key)


def _raise_first(problems: list[tuple[Path, str]]) -> None:
    """Raise the first problem, if any, as an :class:`ImageFileError`."""
    if problems:
        path, why = problems[0]
        raise ImageFileError(f"{path}: {why}")


def load_image_folder(
    root: str | Path,
    *,
    size: tuple[int, int] = (64, 64),
    channels: int = 1,
    on_error: Literal["raise", "skip"] = "raise",
    min_classes: int = 2,
    window: tuple[float, float] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> FolderDataset:
    """Load ``root/<class name>/<image files>`` (PNG, JPEG, BMP, TIFF, DICOM), sorted by
    class name then file name; labels are class indices in that order.

    See the module docstring for the error policy (``on_error``): with ``"skip"`` every
    unreadable file, broken link, nested sub-folder, duplicate stem and stray root image
    is listed in ``report.skipped`` with its reason; nothing is dropped silently.
    ``max_pixels`` is passed to :func:`read_image`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    _check_size(size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    _check_window(window)
    _check_max_pixels(max_pixels)
    root = Path(root)
    if not root.is_dir():
        raise ImageFileError(f"{root}: not a folder")
    class_dirs = _sub_folders(root)
    stray = _stray_images(root, "class")
    if len(class_dirs) < min_classes:
        found = ", ".join(repr(p.name) for p in class_dirs) or "none"
        hint = (
            f"; {len(stray)} image file(s) lie directly in it: put them in one sub-folder per class"
            if stray
            else ""
        )
        raise ImageFileError(
            f"{root}: found {len(class_dirs)} class folder(s) ({found}); a classifier needs "
            f"at least {min_classes} (one sub-folder per class){hint}"
        )
    report = LoadReport()

    def refuse(problems: list[tuple[Path, str]]) -> None:
        if on_error == "raise":
            _raise_first(problems)
        report.skipped.extend(problems)

    refuse(stray)
    images, labels, paths = [], [], []
    for index, class_dir in enumerate(class_dirs):
        files, problems = _scan(class_dir, "class")
        refuse(problems)
        loaded, failures = 0, list(problems)
        for file in files:
            try:
                arr, notes = read_image(
                    file, size=size, channels=channels, window=window, max_pixels=max_pixels
                )
            except ImageFileError as exc:
                if on_error == "raise":
                    raise
                why = str(exc).removeprefix(f"{file}: ")
                report.skipped.append((file, why))
                failures.append((file, why))
                continue
            report.notes.extend((file, note) for note in notes)
            images.append(arr)
            labels.append(index)
            paths.append(file)
            loaded += 1
        if loaded == 0:
            if not failures:
                why = "is empty"
            else:
                first_path, first_why = failures[0]
                why = (
                    f"has no readable image among {len(failures)} entr(y/ies) "
                    f"(first: {first_path.name}: {first_why})"
                )
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


def _image_files(folder: Path, what: str) -> list[Path]:
    """A leaf folder's files in natural order; any unreadable entry is an error."""
    files, problems = _scan(folder, what, key=_natural_key)
    _raise_first(problems)
    return files


def _fit(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if arr.shape[:2] == tuple(size):
        return arr
    return np.clip(resize_image(arr, size), 0.0, 1.0)


def load_mask_pairs(
    images_dir: str | Path,
    masks_dir: str | Path,
    *,
    size: tuple[int, int] = (64, 64),
    mask_threshold: float = 0.5,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    report: LoadReport | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images and their segmentation masks from two folders, paired by file stem
    (``images/case01.png`` with ``masks/case01.png``; extensions may differ).

    Returns images float32 (N, H, W, 1), masks bool (N, H, W) and the stems. Masks are
    read by :func:`read_mask` (non-zero = lesion), resized as 0/1 coverage and kept
    where the coverage exceeds ``mask_threshold``. An image without a mask, a mask
    without an image, an image and mask of different sizes, two files with one stem, a
    sub-folder or broken link in either folder, or an empty folder is an error naming
    the files. Notes (conversions) go to ``report`` when one is passed.
    Taught in ``06_segmentation_detection``."""
    _check_size(size)
    _check_max_pixels(max_pixels)
    if not 0.0 <= mask_threshold < 1.0:
        raise ValueError(f"mask_threshold must lie in [0, 1), got {mask_threshold!r}")
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise ImageFileError(f"{folder}: not a folder")
    images = {p.stem: p for p in _image_files(images_dir, "images")}
    masks = {p.stem: p for p in _image_files(masks_dir, "masks")}
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
    xs, ys = [], []
    for stem in stems:
        image, image_notes = read_image(images[stem], max_pixels=max_pixels)
        mask, mask_notes = read_mask(masks[stem], max_pixels=max_pixels)
        if image.shape[:2] != mask.shape:
            raise ImageFileError(
                f"{masks[stem]}: mask is {mask.shape[0]} x {mask.shape[1]} pixels but its image "
                f"{images[stem].name} is {image.shape[0]} x {image.shape[1]}; a mask must have "
                "its image's size (is it paired with the right image?)"
            )
        if report is not None:
            report.notes.extend((images[stem], n) for n in image_notes)
            report.notes.extend((masks[stem], n) for n in mask_notes)
        xs.append(_fit(image, size))
        ys.append(_fit(mask.astype(np.float32)[..., None], size)[..., 0] > mask_threshold)
    return np.stack(xs).astype(np.float32), np.stack(ys), stems


def load_series_folder(
    root: str | Path,
    *,
    size: tuple[int, int] = (64, 64),
    min_visits: int = 2,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[str], list[np.ndarray]]:
    """A user's follow-up series: ``root/<patient>/<visit files>``, visits ordered by file
    name in natural order (``visit2`` before ``visit10``). Returns the patient names and,
    per patient, a float32 array (T, H, W, 1). A patient with fewer than ``min_visits``
    images, an unreadable visit file, a sub-folder, broken link or duplicate stem in a
    patient folder, or an image file directly in ``root`` is an error naming it.
    Taught in ``07_progression``."""
    _check_size(size)
    _check_max_pixels(max_pixels)
    root = Path(root)
    if not root.is_dir():
        raise ImageFileError(f"{root}: not a folder")
    _raise_first(_stray_images(root, "patient"))
    patients = _sub_folders(root, key=_natural_key)
    if not patients:
        raise ImageFileError(f"{root}: no patient folders (expected one sub-folder per patient)")
    names, series = [], []
    for patient in patients:
        files = _image_files(patient, "patient")
        if len(files) < min_visits:
            raise ImageFileError(
                f"{patient}: {len(files)} visit image(s); a series needs at least {min_visits}"
            )
        names.append(patient.name)
        series.append(np.stack([read_image(f, size=size, max_pixels=max_pixels)[0] for f in files]))
    return names, series
