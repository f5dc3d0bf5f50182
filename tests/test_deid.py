"""DICOM de-identification (PS3.15 Basic Profile): no identifying string of the input
survives in the output file, pseudonyms/dates/UIDs are consistent, private tags go, the
burned-in flag is respected, bad files fail cleanly, and no committed notebook shows PHI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from helpers.deploy.deid import DeidentificationError, Deidentifier, phi_strings, read_dataset
from tests.conftest import write_dicom

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "nested_priv_SQ.dcm", "rtstruct.dcm")
#: Identifying strings written into the generated file.
GENERATED_PHI = (
    "Doe^Jane",
    "MRN12345678",
    "19700101",
    "St Example Hospital",
    "House^Gregory",
    "ACC998877",
    "Smith^Operator",
    "Chest PA of Jane Doe",
    "SECRET-PRIVATE-NOTE",
    "555-0100",
    "1 Main Street",
    "Watson^John",
    "OTHER-ID-4242",
    "20240317",
    "Reading^Doctor",
)


def _phi_file(path: Path, *, burned_in: str | None = None, patient_id: str = "MRN12345678") -> Path:
    write_dicom(path, np.arange(64, dtype=np.uint16).reshape(8, 8) * 100)
    ds = pydicom.dcmread(path)
    ds.PatientName = "Doe^Jane"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientAddress = "1 Main Street"
    ds.PatientTelephoneNumbers = "555-0100"
    ds.InstitutionName = "St Example Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.NameOfPhysiciansReadingStudy = "Reading^Doctor"
    ds.OperatorsName = "Smith^Operator"
    ds.AccessionNumber = "ACC998877"
    ds.StudyDescription = "Chest PA of Jane Doe"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240317"
    ds.StudyTime = "101500"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.2.1125.99.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1125.99.2"
    other = Dataset()
    other.PatientID = "OTHER-ID-4242"
    ds.OtherPatientIDsSequence = Sequence([other])
    nested = Dataset()
    nested.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    nested.ReferencedSOPClassUID = ds.SOPClassUID
    nested.PersonName = "Watson^John"
    ds.ReferencedImageSequence = Sequence([nested])
    block = ds.private_block(0x0011, "EXAMPLE PRIVATE", create=True)
    block.add_new(0x01, "LO", "SECRET-PRIVATE-NOTE")
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.save_as(path, enforce_file_format=True)
    return path


def _assert_no_phi(source: Path, target: Path, extra: tuple[str, ...] = ()) -> None:
    raw = target.read_bytes()
    leaked = [s for s in phi_strings(read_dataset(source)) | set(extra) if s.encode() in raw]
    assert not leaked, f"{source.name}: identifying strings survived: {leaked[:5]}"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_pydicom_files_keep_no_phi(name, tmp_path):
    source = Path(get_testdata_file(name))
    target = Deidentifier("test key").deidentify_file(source, tmp_path / name)
    _assert_no_phi(source, target)
    out = read_dataset(target)
    assert out.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    assert not any(element.tag.is_private for element in out.iterall())
    original = read_dataset(source)
    if "PixelData" in original:
        assert out.PixelData == original.PixelData  # the image itself is untouched


def test_generated_file_full_of_phi(tmp_path):
    source = _phi_file(tmp_path / "phi.dcm")
    target = Deidentifier("test key").deidentify_file(source, tmp_path / "out" / "clean.dcm")
    _assert_no_phi(source, target, GENERATED_PHI)
    out = pydicom.dcmread(target)
    assert out.PatientName == out.PatientID and str(out.PatientID).startswith("ANON-")
    assert out.StudyTime == "101500"  # times are kept, dates shifted
    assert out.StudyDate != "20240317" and len(out.StudyDate) == 8
    assert (
        out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out.SOPInstanceUID
    )  # references stay valid
    assert (
        out.ReferencedImageSequence[0].ReferencedSOPClassUID == pydicom.dcmread(source).SOPClassUID
    )
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID


def test_consistent_across_files_and_keys(tmp_path):
    a = Deidentifier("key one").deidentify_file(
        _phi_file(tmp_path / "a.dcm"), tmp_path / "a_out.dcm"
    )
    b = Deidentifier("key one").deidentify_file(
        _phi_file(tmp_path / "b.dcm"), tmp_path / "b_out.dcm"
    )
    c = Deidentifier("key two").deidentify_file(
        _phi_file(tmp_path / "c.dcm"), tmp_path / "c_out.dcm"
    )
    other = Deidentifier("key one").deidentify_file(
        _phi_file(tmp_path / "d.dcm", patient_id="MRN-OTHER"), tmp_path / "d_out.dcm"
    )
    a, b, c, other = (pydicom.dcmread(p) for p in (a, b, c, other))
    assert a.PatientID == b.PatientID != c.PatientID
    assert a.StudyInstanceUID == b.StudyInstanceUID != c.StudyInstanceUID
    assert a.StudyDate == b.StudyDate
    assert other.PatientID != a.PatientID
    assert a.StudyInstanceUID.startswith("2.25.") and len(a.StudyInstanceUID) <= 64
    with pytest.raises(ValueError, match="secret"):
        Deidentifier("")


def test_burned_in_annotation_is_respected(tmp_path):
    source = _phi_file(tmp_path / "burned.dcm", burned_in="YES")
    target = tmp_path / "burned_out.dcm"
    with pytest.raises(DeidentificationError, match=r"burned\.dcm.*Burned In Annotation"):
        Deidentifier("k").deidentify_file(source, target)
    assert not target.exists() and not list(tmp_path.glob(".burned_out*"))
    Deidentifier("k").deidentify_file(source, target, pixels_cleaned=True)
    assert pydicom.dcmread(target).BurnedInAnnotation == "NO"


def test_bad_file_names_itself_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(DeidentificationError, match="broken.dcm"):
        Deidentifier("k").deidentify_file(bad, tmp_path / "x" / "out.dcm")
    assert not (tmp_path / "x" / "out.dcm").exists()


def test_no_committed_notebook_output_contains_phi_from_the_test_files():
    phi = set(GENERATED_PHI)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        phi |= {s for s in phi_strings(pydicom.dcmread(get_testdata_file(name))) if len(s) >= 6}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        text = json.dumps([cell.get("outputs", []) for cell in cells])
        found = [s for s in phi if s in text]
        assert not found, f"{notebook.name} shows PHI from the test files: {found[:5]}"
