"""Image files, DICOM and class folders, including the odd and the broken."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import write_dicom
from helpers.data.imagefiles import (
    ImageFileError,
    LoadReport,
    apply_window,
    load_image_folder,
    load_mask_pairs,
    load_series_folder,
    read_dicom,
    read_image,
    read_mask,
)

# pydicom warns when a test writes a deliberately invalid header value.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def _class_tree(root: Path, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for name in ("normal", "pneumonia"):
        for k in range(per_class):
            _png(root / name / f"img{k}.png", rng.integers(0, 256, (40, 30), dtype=np.uint8))
    return root


def test_gray_png_scaled_to_unit_range(tmp_path):
    arr = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    img, notes = read_image(_png(tmp_path / "a.png", arr))
    assert img.shape == (2, 2, 1) and img.dtype == np.float32
    np.testing.assert_allclose(img[..., 0], arr / 255.0, atol=1e-7)
    assert notes == []


def test_resize_and_rgb_to_gray(tmp_path):
    rgb = np.zeros((50, 80, 3), np.uint8)
    rgb[..., 1] = 255
    img, notes = read_image(_png(tmp_path / "g.jpg", rgb), size=(28, 28))
    assert img.shape == (28, 28, 1)
    assert abs(float(img.mean()) - 0.587) < 0.02  # luminance of pure green
    assert any("3 channel(s) converted to 1" in n for n in notes)
    img3, _ = read_image(tmp_path / "g.jpg", size=(16, 16), channels=3)
    assert img3.shape == (16, 16, 3)


def test_16bit_png_keeps_precision_and_says_so(tmp_path):
    arr = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    path = _png(tmp_path / "deep.png", arr)
    img, notes = read_image(path)
    np.testing.assert_allclose(img[..., 0], arr / 65535.0, rtol=1e-6)
    assert any("16-bit" in n for n in notes)
    root = _class_tree(tmp_path / "tree")
    (root / "normal" / "deep.png").write_bytes(path.read_bytes())
    dataset = load_image_folder(root, size=(8, 8))
    assert any(p.name == "deep.png" and "16-bit" in why for p, why in dataset.report.notes)


def test_large_16bit_png(tmp_path):
    arr = (np.linspace(0, 65535, 1200 * 900) % 65536).astype(np.uint16).reshape(1200, 900)
    img, _ = read_image(_png(tmp_path / "big16.png", arr), size=(64, 64))
    assert img.shape == (64, 64, 1) and 0.0 <= img.min() and img.max() <= 1.0


def test_rgba_alpha_is_dropped_or_composited_with_a_note(tmp_path):
    rgba = np.full((4, 4, 4), 255, np.uint8)
    opaque, notes = read_image(_png(tmp_path / "opaque.png", rgba))
    assert np.allclose(opaque, 1.0) and any(
        "alpha channel (fully opaque) dropped" in n for n in notes
    )
    rgba[..., 3] = 0
    clear, notes = read_image(_png(tmp_path / "clear.png", rgba))
    assert np.allclose(clear, 0.0) and any("not fully opaque" in n for n in notes)


def test_corrupt_png_names_file(tmp_path):
    good = _png(tmp_path / "good.png", np.zeros((64, 64), np.uint8) + 7)
    bad = tmp_path / "broken.png"
    bad.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageFileError, match=r"broken\.png: not a readable image"):
        read_image(bad)


def test_non_image_file_in_class_folder(tmp_path):
    root = _class_tree(tmp_path / "tree")
    (root / "normal" / "notes.txt").write_text("radiologist's notes")
    with pytest.raises(
        ImageFileError, match=r"notes\.txt: not an image file \(extension '\.txt'\)"
    ):
        load_image_folder(root, size=(8, 8))
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file"):
        dataset = load_image_folder(root, size=(8, 8), on_error="skip")
    assert [(p.name, "not an image file" in why) for p, why in dataset.report.skipped] == [
        ("notes.txt", True)
    ]
    assert len(dataset.images) == 6 and "notes.txt" in str(dataset.report)


def test_hidden_files_are_ignored(tmp_path):
    root = _class_tree(tmp_path / "tree")
    (root / "normal" / ".DS_Store").write_bytes(b"\0\1junk")
    assert len(load_image_folder(root, size=(8, 8)).images) == 6


def test_empty_class_folder(tmp_path):
    root = _class_tree(tmp_path / "tree")
    (root / "covid").mkdir()
    with pytest.raises(ImageFileError, match=r"covid: class folder 'covid' is empty"):
        load_image_folder(root, size=(8, 8))


def test_single_class_folder(tmp_path):
    _png(tmp_path / "only" / "normal" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(
        ImageFileError,
        match=r"only: found 1 class folder\(s\) \('normal'\); a classifier needs at least 2",
    ):
        load_image_folder(tmp_path / "only")


def test_folder_labels_follow_sorted_class_names(tmp_path):
    dataset = load_image_folder(_class_tree(tmp_path / "tree"), size=(10, 12))
    assert dataset.class_names == ["normal", "pneumonia"]
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert dataset.images.shape == (6, 10, 12, 1) and dataset.images.dtype == np.float32


# ---- DICOM ---------------------------------------------------------------------


def test_dicom_rescale_slope_intercept_give_modality_units(tmp_path):
    raw = np.array([[0, 1000], [2000, 3000]], dtype=np.uint16)
    dicom = read_dicom(
        write_dicom(tmp_path / "ct.dcm", raw, slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    )
    np.testing.assert_allclose(dicom.pixels, raw - 1024.0)
    assert dicom.window == (40.0, 400.0)
    np.testing.assert_allclose(dicom.display(), apply_window(raw - 1024.0, 40.0, 400.0))


def test_dicom_monochrome1_is_inverted_with_a_note(tmp_path):
    raw = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    m2, _ = read_image(write_dicom(tmp_path / "m2.dcm", raw, window=(150.0, 300.0)))
    path = write_dicom(tmp_path / "m1.dcm", raw, photometric="MONOCHROME1", window=(150.0, 300.0))
    m1, notes = read_image(path)
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)
    assert any("MONOCHROME1" in n for n in notes)


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "nopix.dcm", np.zeros((4, 4)), with_pixels=False)
    with pytest.raises(ImageFileError, match=r"nopix\.dcm: DICOM file has no pixel data"):
        read_image(path)


def test_not_a_dicom(tmp_path):
    path = tmp_path / "fake.dcm"
    path.write_bytes(b"this is not DICOM" * 20)
    with pytest.raises(ImageFileError, match=r"fake\.dcm: not a readable DICOM file"):
        read_dicom(path)


def test_dicom_in_a_class_folder(tmp_path):
    root = _class_tree(tmp_path / "tree")
    write_dicom(root / "pneumonia" / "scan.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8))
    dataset = load_image_folder(root, size=(8, 8))
    assert len(dataset.images) == 7
    assert any(p.name == "scan.dcm" and "no window" in why for p, why in dataset.report.notes)


def test_pydicom_ct_test_file_in_hounsfield_units():
    from pydicom.data import get_testdata_file

    ct = read_dicom(get_testdata_file("CT_small.dcm"))
    assert ct.modality == "CT"
    assert -1100 < ct.pixels.min() < -500 and ct.pixels.max() > 500  # air ... bone
    shown = ct.display((40.0, 400.0))
    assert shown.min() == 0.0 and shown.max() == 1.0


def test_window_rejects_zero_width():
    with pytest.raises(ValueError, match="width must be positive"):
        apply_window(np.zeros(3), 0.0, 0.0)


def test_missing_file(tmp_path):
    with pytest.raises(ImageFileError, match=r"ghost\.png: no such file"):
        read_image(tmp_path / "ghost.png")


# ---- hardening: every bad file is an ImageFileError naming it ----------------------------


def _png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces ``width`` x ``height`` 8-bit gray pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small baseline JPEG whose SOF0 header is patched to ``width`` x ``height``."""
    data = bytearray(_png_bytes(np.zeros((8, 8), np.uint8), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _edit_dicom(path: Path, **attributes) -> Path:
    import pydicom

    ds = pydicom.dcmread(path)
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.save_as(path)
    return path


def _dicom(path: Path, **attributes) -> Path:
    write_dicom(path, np.arange(64, dtype=np.uint16).reshape(8, 8) * 16)
    return _edit_dicom(path, **attributes) if attributes else path


def _text_slope(path: Path) -> Path:
    """A DICOM whose RescaleSlope holds text (pydicom refuses to write one, so patch bytes)."""
    data = _dicom(path, RescaleSlope="1.5").read_bytes()
    element = b"\x28\x00\x53\x10DS\x04\x001.5 "
    assert element in data
    return _write(path, data.replace(element, element[:-4] + b"abc "))


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _float_tiff(path: Path, bad: float) -> Path:
    arr = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    arr[3, 4] = bad
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


_GOOD_PNG = _png_bytes(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)))
_GOOD_JPEG = _png_bytes(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)), "JPEG")


def _truncated_dicom(path: Path) -> Path:
    write_dicom(path, np.arange(4096, dtype=np.uint16).reshape(64, 64))
    return _write(path, path.read_bytes()[:-500])


def _tiff_truncated(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64)).save(buffer, "TIFF")
    return _write(path, buffer.getvalue()[:3000])


def _ztxt_bomb(path: Path) -> Path:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "a" * 3_000_000, zip=True)  # 3 MB of text in a few kB
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8)).save(path, pnginfo=info)
    return path


def _int_tiff(path: Path, values: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.array([values, values], dtype=np.int32)).save(path)
    return path


def _gif(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "GIF")
    return _write(path, buffer.getvalue())


# (id, file name, factory(path) -> path, reason regex, read_image keywords)
BAD_FILES = [
    (
        "png-truncated",
        "trunc.png",
        lambda p: _write(p, _GOOD_PNG[: len(_GOOD_PNG) // 2]),
        r"not a readable image",
        {},
    ),
    (
        "png-header-only",
        "hdr.png",
        lambda p: _write(p, _GOOD_PNG[:33]),
        r"not a readable image",
        {},
    ),
    (
        "png-bad-crc",
        "crc.png",
        lambda p: _write(p, _GOOD_PNG[:18] + bytes([_GOOD_PNG[18] ^ 0xFF]) + _GOOD_PNG[19:]),
        r"not a readable image",
        {},
    ),
    ("png-ztxt-bomb", "ztxt.png", _ztxt_bomb, r"not a readable image.*too large", {}),
    (
        "jpeg-truncated",
        "trunc.jpg",
        lambda p: _write(p, _GOOD_JPEG[: len(_GOOD_JPEG) // 2]),
        r"not a readable image .*truncated",
        {},
    ),
    (
        "jpeg-garbage",
        "garbage.jpg",
        lambda p: _write(p, b"\xff\xd8\xff" + bytes(range(256)) * 4),
        r"not a readable image",
        {},
    ),
    ("tiff-truncated", "trunc.tif", _tiff_truncated, r"not a readable image", {}),
    (
        "bmp-truncated",
        "trunc.bmp",
        lambda p: _write(p, _png_bytes(np.zeros((32, 32), np.uint8), "BMP")[:200]),
        r"not a readable image",
        {},
    ),
    ("empty-png", "empty.png", lambda p: _write(p, b""), r"empty file \(0 bytes\)", {}),
    ("empty-dcm", "empty.dcm", lambda p: _write(p, b""), r"empty file \(0 bytes\)", {}),
    (
        "text-as-png",
        "text.png",
        lambda p: _write(p, b"radiology report " * 20),
        r"not a readable image.*not a PNG/JPEG/BMP/TIFF; export it again",
        {},
    ),
    (
        "random-as-jpg",
        "random.jpg",
        lambda p: _write(p, np.random.default_rng(1).bytes(2000)),
        r"not a readable image",
        {},
    ),
    ("gif-as-png", "anim.png", _gif, r"not a PNG/JPEG/BMP/TIFF", {}),
    (
        "dicom-as-png",
        "scan.png",
        lambda p: _write(p, _dicom(p.with_suffix(".dcm")).read_bytes()),
        r"it is a DICOM file: rename it to \.dcm",
        {},
    ),
    (
        "png-13000-squared",
        "huge.png",
        lambda p: _write(p, _png_claiming(13000, 13000)),
        r"13000 x 13000 pixels \(169 Mpx\) exceeds the limit of 67 Mpx.*before decoding",
        {},
    ),
    (
        "jpeg-13000-squared",
        "huge.jpg",
        lambda p: _write(p, _jpeg_claiming(13000, 13000)),
        r"13000 x 13000 pixels .*exceeds the limit",
        {},
    ),
    (
        "png-over-custom-limit",
        "limit.png",
        lambda p: _write(p, _GOOD_PNG),
        r"64 x 64 pixels .*max_pixels=1000",
        {"max_pixels": 1000},
    ),
    (
        "pillow-bomb-no-own-limit",
        "bomb.png",
        lambda p: _write(p, _png_claiming(20000, 20000)),
        r"decompression bomb",
        {"max_pixels": None},
    ),
    (
        "dicom-13000-squared",
        "huge.dcm",
        lambda p: _dicom(p, Rows=13000, Columns=13000),
        r"13000 x 13000 pixels .*exceeds the limit",
        {},
    ),
    (
        "dicom-over-custom-limit",
        "limit.dcm",
        lambda p: _dicom(p),
        r"8 x 8 pixels .*max_pixels=10",
        {"max_pixels": 10},
    ),
    (
        "float-tiff-nan",
        "nan.tif",
        lambda p: _float_tiff(p, float("nan")),
        r"1 NaN or infinite pixel",
        {},
    ),
    (
        "float-tiff-inf",
        "inf.tif",
        lambda p: _float_tiff(p, float("inf")),
        r"1 NaN or infinite pixel",
        {},
    ),
    (
        "int-tiff-negative",
        "neg.tif",
        lambda p: _int_tiff(p, [0, -5, 100]),
        r"values -5\.\.100, outside 0\.\.65535",
        {},
    ),
    (
        "int-tiff-over-16-bit",
        "wide.tif",
        lambda p: _int_tiff(p, [0, 70000]),
        r"values 0\.\.70000, outside",
        {},
    ),
    (
        "dicom-slope-nan",
        "nanslope.dcm",
        lambda p: _dicom(p, RescaleSlope="nan"),
        r"NaN or infinite after the rescale",
        {},
    ),
    (
        "dicom-slope-overflow",
        "infslope.dcm",
        lambda p: _dicom(p, RescaleSlope="1e38"),
        r"NaN or infinite after the rescale",
        {},
    ),
    (
        "dicom-slope-text",
        "textslope.dcm",
        _text_slope,
        r"not a readable DICOM file",
        {},
    ),
    (
        "not-dicom",
        "fake.dcm",
        lambda p: _write(p, b"this is not DICOM" * 20),
        r"not a readable DICOM file.*export it again",
        {},
    ),
    (
        "png-as-dcm",
        "photo.dcm",
        lambda p: _write(p, _GOOD_PNG),
        r"it is a PNG file with a DICOM name: rename it to \.png",
        {},
    ),
    (
        "jpeg-as-dcm",
        "photo2.dicom",
        lambda p: _write(p, _GOOD_JPEG),
        r"it is a JPEG file with a DICOM name",
        {},
    ),
    (
        "dicom-no-pixels",
        "nopix.dcm",
        lambda p: write_dicom(p, np.zeros((4, 4)), with_pixels=False),
        r"has no pixel data",
        {},
    ),
    ("dicom-truncated", "cut.dcm", _truncated_dicom, r"DICOM", {}),
    ("dicom-zero-rows", "norows.dcm", lambda p: _dicom(p, Rows=0), r"Rows x Columns = 0 x 8", {}),
    (
        "dicom-ybr-unsupported",
        "ybr.dcm",
        lambda p: _dicom(p, PhotometricInterpretation="YBR_ICT"),
        r"photometric interpretation YBR_ICT is not supported",
        {},
    ),
    (
        "dicom-rgb-one-sample",
        "rgb1.dcm",
        lambda p: _dicom(p, PhotometricInterpretation="RGB"),
        r"DICOM|photometric",
        {},
    ),
    (
        "dicom-frames-zero",
        "frames.dcm",
        lambda p: _dicom(p, NumberOfFrames=0),
        r"NumberOfFrames is 0",
        {},
    ),
    (
        "unsupported-extension",
        "notes.txt",
        lambda p: _write(p, b"text"),
        r"not an image file \(extension '\.txt'\)",
        {},
    ),
    (
        "no-extension",
        "README",
        lambda p: _write(p, b"text"),
        r"not an image file \(extension 'none'\)",
        {},
    ),
    (
        "nifti-extension",
        "brain.nii",
        lambda p: _write(p, b"\0" * 400),
        r"not an image file \(extension '\.nii'\)",
        {},
    ),
]
BAD_IDS = [case[0] for case in BAD_FILES]


@pytest.mark.parametrize(
    ("name", "factory", "reason", "kwargs"), [c[1:] for c in BAD_FILES], ids=BAD_IDS
)
def test_bad_file_is_an_image_file_error_naming_it(tmp_path, name, factory, reason, kwargs):
    path = factory(tmp_path / name)
    with pytest.raises(ImageFileError) as info:
        read_image(path, size=(8, 8), **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert re.search(reason, message), message


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    path = _write(tmp_path / "huge.png", _png_claiming(13000, 13000))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(ImageFileError, match=r"huge\.png: 13000 x 13000"):
        read_image(path)
    dicom = _dicom(tmp_path / "huge.dcm", Rows=13000, Columns=13000)
    import pydicom

    monkeypatch.setattr(
        pydicom.Dataset, "pixel_array", property(lambda self: pytest.fail("decoded"))
    )
    with pytest.raises(ImageFileError, match=r"huge\.dcm: 13000 x 13000"):
        read_dicom(dicom)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", r"no such file"),
        ("broken-link", r"broken symbolic link \(points to .*gone\.png"),
        ("folder", r"is a folder, not an image file"),
        ("fifo", r"not a regular file \(a pipe, socket or device\)"),
    ],
)
def test_not_a_file(tmp_path, kind, reason):
    path = tmp_path / f"{kind}.png"
    if kind == "broken-link":
        path.symlink_to(tmp_path / "gone.png")
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    for reader in (read_image, read_mask, read_dicom):
        with pytest.raises(ImageFileError, match=re.escape(str(path)) + ": " + reason):
            reader(path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: read_image(p, window=(40.0, 0.0)), "window width must be positive"),
        (lambda p: read_image(p, window=(40.0, float("nan"))), "window width"),
        (lambda p: read_image(p, channels=2), "channels must be 1 or 3"),
        (lambda p: read_image(p, size=(0, 8)), "size must be"),
        (lambda p: read_image(p, max_pixels=0), "max_pixels must be"),
        (lambda p: read_dicom(p, window=(0.0, -1.0)), "window width must be positive"),
        (lambda p: load_image_folder(p.parent, window=(1.0, 0.0)), "window width"),
    ],
)
def test_bad_arguments_are_value_errors_before_any_file_is_read(tmp_path, call, message):
    path = _dicom(tmp_path / "ok.dcm")
    with pytest.raises(ValueError, match=message):
        call(path)


# ---- documented handling: bit depth, DICOM windows, format mismatches ---------------------


@pytest.mark.parametrize(
    ("high", "bits"), [(200, 8), (1000, 10), (4095, 12), (4096, 14), (16383, 14), (40000, 16)]
)
def test_16bit_png_bit_depth_comes_from_the_data(tmp_path, high, bits):
    arr = np.array([[0, high // 2], [high // 4, high]], dtype=np.uint16)
    img, notes = read_image(_png(tmp_path / "deep.png", arr))
    np.testing.assert_allclose(img[..., 0], arr / (2**bits - 1), rtol=1e-6)
    assert any("16-bit" in n and (bits == 16 or f"{bits}-bit data" in n) for n in notes)


def test_12bit_png_is_not_near_black(tmp_path):
    arr = (np.linspace(0, 4095, 64 * 64).reshape(64, 64)).astype(np.uint16)
    img, notes = read_image(_png(tmp_path / "ct12.png", arr))
    assert img.max() == pytest.approx(1.0) and 0.45 < img.mean() < 0.55
    assert any("12-bit data (max 4095): scaled by 1/4095" in n for n in notes)


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ((40.0, 0.0), r"width 0\) is unusable"),
        ((40.0, -400.0), r"width -400\) is unusable"),
        (("", 400.0), r"empty or not numbers"),
        ((40.0, ""), r"empty or not numbers"),
        (("nan", 400.0), r"is unusable"),
    ],
)
def test_unusable_dicom_window_falls_back_to_the_data_range(tmp_path, window, reason):
    path = _dicom(tmp_path / "w.dcm", WindowCenter=window[0], WindowWidth=window[1])
    dicom = read_dicom(path)
    assert dicom.window == pytest.approx((63 * 16 / 2, 63 * 16))
    assert any(re.search(reason, n) for n in dicom.notes), dicom.notes
    assert any("full data range" in n for n in dicom.notes)
    img, notes = read_image(path)
    assert img.min() == 0.0 and img.max() == 1.0 and notes == dicom.notes


def test_dicom_window_with_only_a_center(tmp_path):
    import pydicom

    path = _dicom(tmp_path / "c.dcm", WindowCenter=40.0)
    assert "WindowWidth" not in pydicom.dcmread(path)
    assert any("WindowWidth missing" in n for n in read_dicom(path).notes)


def test_dicom_bits_stored_is_noted_and_high_bits_ignored(tmp_path):
    import pydicom

    path = write_dicom(tmp_path / "b12.dcm", np.array([[0, 4095]], np.uint16), bits_stored=12)
    ds = pydicom.dcmread(path)
    ds.PixelData = np.array([[0x1000, 0xFFFF]], np.uint16).tobytes()  # junk in bits 12..15
    ds.save_as(path)
    dicom = read_dicom(path)
    assert dicom.pixels.tolist() == [[0.0, 4095.0]]
    assert any("12 of 16 bits stored" in n for n in dicom.notes)


def test_dicom_multiframe_uses_middle_frame(tmp_path):
    path = _dicom(tmp_path / "mf.dcm", NumberOfFrames=3)
    _edit_dicom(path, PixelData=np.repeat(np.arange(3, dtype=np.uint16), 64).tobytes())
    dicom = read_dicom(path)
    assert dicom.pixels.shape == (8, 8) and float(dicom.pixels.mean()) == 1.0
    assert any("3 frames" in n for n in dicom.notes)


def test_jpeg_named_png_loads_with_a_note(tmp_path):
    img, notes = read_image(_write(tmp_path / "lies.png", _GOOD_JPEG))
    assert img.shape == (64, 64, 1)
    assert any("JPEG although named .png" in n for n in notes)


def test_multiframe_tiff_uses_the_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    img, notes = read_image(tmp_path / "stack.tif")
    assert round(float(img.mean()) * 255) == 10 and any("2 frames" in n for n in notes)


# ---- masks --------------------------------------------------------------------------------


_SQUARE = np.zeros((16, 16), bool)
_SQUARE[4:10, 5:12] = True


@pytest.mark.parametrize(
    ("name", "array"),
    [
        ("zero_one.png", _SQUARE.astype(np.uint8)),
        ("zero_255.png", _SQUARE.astype(np.uint8) * 255),
        ("bool.png", _SQUARE),
        ("sixteen.png", _SQUARE.astype(np.uint16) * 1000),
        ("soft.png", _SQUARE.astype(np.uint8) * np.uint8(128)),
        ("gray_rgb.png", np.dstack([_SQUARE.astype(np.uint8) * 255] * 3)),
        (
            "gray_rgba.png",
            np.dstack([_SQUARE.astype(np.uint8) * 255] * 3 + [np.full((16, 16), 255, np.uint8)]),
        ),
        ("dicom.dcm", _SQUARE.astype(np.uint16)),
    ],
)
def test_masks_nonzero_is_lesion(tmp_path, name, array):
    path = tmp_path / name
    if name.endswith(".dcm"):
        write_dicom(path, array)
    else:
        _png(path, array)
    mask, _ = read_mask(path)
    assert mask.dtype == bool and np.array_equal(mask, _SQUARE)


def test_jpeg_mask_ignores_compression_noise(tmp_path):
    path = tmp_path / "m.jpg"
    Image.fromarray(_SQUARE.astype(np.uint8) * 255).save(path, quality=60)
    mask, notes = read_mask(path)
    assert np.array_equal(mask, _SQUARE) and any("JPEG mask (lossy)" in n for n in notes)


def test_label_map_mask_is_noted(tmp_path):
    labels = _SQUARE.astype(np.uint8)
    labels[0, 0] = 2
    mask, notes = read_mask(_png(tmp_path / "labels.png", labels))
    assert mask.sum() == _SQUARE.sum() + 1 and any("2 distinct non-zero values" in n for n in notes)


@pytest.mark.parametrize(
    ("name", "array", "reason"),
    [
        (
            "red.png",
            np.dstack([_SQUARE.astype(np.uint8) * 255, *[np.zeros((16, 16), np.uint8)] * 2]),
            r"colour mask \(42 pixel\(s\) with R, G, B unequal, e\.g\. \(255, 0, 0\)",
        ),
        (
            "overlay.png",
            np.dstack([np.zeros((16, 16, 3), np.uint8), _SQUARE.astype(np.uint8) * 255]),
            r"mask has transparency",
        ),
        (
            "nan.tif",
            np.where(_SQUARE, np.float32("nan"), np.float32(0)),
            r"mask with 42 NaN or infinite",
        ),
    ],
)
def test_bad_masks_are_refused_naming_the_file(tmp_path, name, array, reason):
    path = _png(tmp_path / name, array)
    with pytest.raises(ImageFileError, match=re.escape(str(path)) + ": " + reason):
        read_mask(path)


def test_palette_mask_with_colour_is_refused(tmp_path):
    img = Image.new("P", (16, 16))
    img.putdata(_SQUARE.astype(np.uint8).ravel().tolist())
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    path = tmp_path / "palette.png"
    img.save(path)
    with pytest.raises(ImageFileError, match=r"palette\.png: colour mask"):
        read_mask(path)


def _pairs(root: Path, n: int = 3, mask_value: int = 255) -> tuple[Path, Path]:
    for k in range(n):
        _png(root / "images" / f"case{k:02d}.png", np.full((16, 16), 40 * k, np.uint8))
        _png(root / "masks" / f"case{k:02d}.png", _SQUARE.astype(np.uint8) * mask_value)
    return root / "images", root / "masks"


def test_mask_pairs_with_zero_one_masks_are_not_empty(tmp_path):
    images, masks = _pairs(tmp_path, mask_value=1)
    report = LoadReport()
    x, y, stems = load_mask_pairs(images, masks, size=(16, 16), report=report)
    assert stems == ["case00", "case01", "case02"] and y.shape == (3, 16, 16)
    assert all(np.array_equal(m, _SQUARE) for m in y)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda im, ma: _png(im / "case01.jpg", np.zeros((16, 16), np.uint8)),
            r"images[/\\]case01\.(jpg|png): duplicate stem 'case01' \(also case01\.(png|jpg)",
        ),
        (
            lambda im, ma: _write(ma / "case02.dcm", _dicom(im.parent / "x.dcm").read_bytes()),
            r"masks[/\\]case02\.(dcm|png): duplicate stem 'case02'",
        ),
        (lambda im, ma: (ma / "extra").mkdir(), r"masks[/\\]extra: sub-folder inside masks folder"),
        (
            lambda im, ma: (im / "case09.png").symlink_to(im / "nowhere.png"),
            r"case09\.png: broken symbolic link",
        ),
        (
            lambda im, ma: _png(
                ma / "case01.png",
                np.dstack([np.zeros((16, 16), np.uint8)] * 2 + [np.full((16, 16), 9, np.uint8)]),
            ),
            r"case01\.png: colour mask",
        ),
        (
            lambda im, ma: _png(ma / "case00.png", np.zeros((8, 16), np.uint8)),
            r"case00\.png: mask is 8 x 16 pixels but its image case00\.png is 16 x 16",
        ),
        (lambda im, ma: _write(im / "case01.png", b""), r"case01\.png: empty file"),
    ],
)
def test_mask_pair_problems_name_the_files(tmp_path, setup, reason):
    images, masks = _pairs(tmp_path)
    setup(images, masks)
    with pytest.raises(ImageFileError, match=reason):
        load_mask_pairs(images, masks, size=(8, 8))


# ---- folders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "names", "reason"),
    [
        (
            lambda r: _png(r / "normal" / "old" / "x.png", np.zeros((4, 4), np.uint8)),
            ["old"],
            r"sub-folder inside class folder 'normal': sub-folders are not read",
        ),
        (
            lambda r: (r / "normal" / "link.png").symlink_to(r / "missing.png"),
            ["link.png"],
            r"broken symbolic link",
        ),
        (lambda r: os.mkfifo(r / "normal" / "pipe.png"), ["pipe.png"], r"not a regular file"),
        (
            lambda r: _write(r / "normal" / "img0.jpg", _GOOD_JPEG),
            ["img0.jpg", "img0.png"],
            r"duplicate stem 'img0'",
        ),
        (
            lambda r: _png(r / "stray.png", np.zeros((4, 4), np.uint8)),
            ["stray.png"],
            r"outside any class folder",
        ),
        (
            lambda r: _float_tiff(r / "pneumonia" / "nan.tif", float("nan")),
            ["nan.tif"],
            r"NaN or infinite",
        ),
    ],
)
def test_folder_problems_raise_or_are_listed(tmp_path, setup, names, reason):
    root = _class_tree(tmp_path / "tree")
    setup(root)
    with pytest.raises(ImageFileError, match=reason) as info:
        load_image_folder(root, size=(8, 8))
    assert any(name in str(info.value) for name in names)
    with pytest.warns(UserWarning, match=r"skipped \d+ unreadable"):
        dataset = load_image_folder(root, size=(8, 8), on_error="skip")
    skipped = {p.name: why for p, why in dataset.report.skipped}
    assert sorted(skipped) == sorted(names)
    assert all(re.search(reason, why) for why in skipped.values())
    assert len(dataset.images) == 6 - sum(n == "img0.png" for n in names)


def test_clutter_and_root_csv_are_ignored(tmp_path):
    root = _class_tree(tmp_path / "tree")
    (root / "labels.csv").write_text("file,label\n")
    _png(root / "__MACOSX" / "normal" / "._img0.png", np.zeros((4, 4), np.uint8))
    (root / "normal" / "Thumbs.db").write_bytes(b"\0")
    _png(root / ".ipynb_checkpoints" / "a.png", np.zeros((4, 4), np.uint8))
    dataset = load_image_folder(root, size=(8, 8))
    assert dataset.class_names == ["normal", "pneumonia"] and len(dataset.images) == 6


def test_images_without_class_folders_get_a_hint(tmp_path):
    for k in range(3):
        _png(tmp_path / "flat" / f"x{k}.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageFileError, match=r"flat: found 0 class folder.*3 image file\(s\)"):
        load_image_folder(tmp_path / "flat")


def test_class_folder_with_only_a_sub_folder(tmp_path):
    root = _class_tree(tmp_path / "tree")
    _png(root / "covid" / "images" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(
        ImageFileError,
        match=r"class folder 'covid' has no readable image .*first: images: sub-folder",
    ):
        load_image_folder(root, size=(8, 8), on_error="skip")


def test_mixed_good_and_bad_folder(tmp_path):
    """Every good file is loaded and every bad one is listed with its reason."""
    root = tmp_path / "mixed"
    rng = np.random.default_rng(3)
    good = [
        _png(root / "normal" / "gray8.png", rng.integers(0, 256, (20, 30), dtype=np.uint8)),
        _write(root / "normal" / "photo.jpg", _GOOD_JPEG),
        _png(root / "normal" / "deep16.png", rng.integers(0, 65536, (20, 20), dtype=np.uint16)),
        _png(root / "normal" / "ct12.png", rng.integers(0, 4096, (20, 20), dtype=np.uint16)),
        _png(root / "normal" / "rgba.png", np.full((6, 6, 4), 200, np.uint8)),
        _write(root / "pneumonia" / "film.bmp", _png_bytes(np.zeros((8, 8), np.uint8), "BMP")),
        _png(root / "pneumonia" / "scan.tif", np.zeros((8, 8), np.uint8)),
        _dicom(root / "pneumonia" / "ct.dcm"),
        _dicom(root / "pneumonia" / "badwindow.dcm", WindowCenter="", WindowWidth=0),
        _write(root / "pneumonia" / "lies.png", _GOOD_JPEG),
    ]
    expected: dict[str, str] = {}
    for case_id, name, factory, reason, kwargs in BAD_FILES:
        if kwargs:
            continue
        stem, suffix = name.rsplit(".", 1) if "." in name else (name, "")
        file = root / "pneumonia" / f"bad-{case_id}{'.' + suffix if suffix else ''}"
        factory(file)
        expected[file.name] = reason
    (root / "pneumonia" / "bad-dicom-as-png.dcm").unlink()  # the factory's helper file
    (root / "normal" / "nested").mkdir()
    expected["nested"] = r"sub-folder"
    (root / "normal" / "dangling.png").symlink_to(root / "gone.png")
    expected["dangling.png"] = r"broken symbolic link"
    _png(root / "normal" / "case01.png", np.zeros((4, 4), np.uint8))
    _write(root / "normal" / "case01.jpg", _GOOD_JPEG)
    expected["case01.png"] = expected["case01.jpg"] = r"duplicate stem 'case01'"
    _png(root / "outside.png", np.zeros((4, 4), np.uint8))
    expected["outside.png"] = r"outside any class folder"

    with pytest.warns(UserWarning, match=rf"skipped {len(expected)} unreadable"):
        dataset = load_image_folder(root, size=(16, 16), on_error="skip")
    assert sorted(p.name for p in dataset.paths) == sorted(p.name for p in good)
    assert dataset.images.shape == (len(good), 16, 16, 1)
    assert np.isfinite(dataset.images).all()
    assert 0.0 <= dataset.images.min() and dataset.images.max() <= 1.0
    skipped = {p.name: why for p, why in dataset.report.skipped}
    assert sorted(skipped) == sorted(expected)
    for name, reason in expected.items():
        assert re.search(reason, skipped[name]), (name, skipped[name])
    notes = {(p.name, n) for p, n in dataset.report.notes}
    assert any(name == "ct12.png" and "12-bit data" in n for name, n in notes)
    assert any(name == "badwindow.dcm" and "window ignored" in n for name, n in notes)
    assert any(name == "lies.png" and "JPEG although named" in n for name, n in notes)
    text = str(dataset.report)
    assert all(name in text for name in expected)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda r: _png(r / "patientA" / "old" / "v.png", np.zeros((8, 8), np.uint8)),
            r"patientA[/\\]old: sub-folder inside patient folder",
        ),
        (
            lambda r: (r / "patientA" / "visit3.png").symlink_to(r / "x.png"),
            r"visit3\.png: broken symbolic link",
        ),
        (
            lambda r: _write(r / "patientA" / "visit1.jpg", _GOOD_JPEG),
            r"visit1\.(jpg|png): duplicate stem 'visit1'",
        ),
        (
            lambda r: _png(r / "visit9.png", np.zeros((8, 8), np.uint8)),
            r"visit9\.png: image file directly in .*outside any patient folder",
        ),
        (
            lambda r: _float_tiff(r / "patientA" / "visit3.tif", float("nan")),
            r"visit3\.tif: floating-point image with 1 NaN",
        ),
    ],
)
def test_series_folder_problems_name_the_file(tmp_path, setup, reason):
    for patient in ("patientA", "patientB"):
        for visit in (1, 2):
            _png(tmp_path / patient / f"visit{visit}.png", np.full((8, 8), 50, np.uint8))
    assert load_series_folder(tmp_path, size=(8, 8))[0] == ["patientA", "patientB"]
    setup(tmp_path)
    with pytest.raises(ImageFileError, match=reason):
        load_series_folder(tmp_path, size=(8, 8))
