"""Image files, DICOM and class folders, including the odd and the broken."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_dicom
from helpers.data.imagefiles import (
    ImageFileError,
    apply_window,
    load_image_folder,
    read_dicom,
    read_image,
)


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
