"""DICOM de-identification (PS3.15 Basic Profile with the Modified Dates option): an
answer key of planted identifiers that must all be gone (by :func:`phi_strings` and by a
byte search of the written file), no mutation of the input, overlays/curves/comments/private
tags removed, burned-in text refused or blanked, distinct pseudonyms without patient
identifiers, atomic writes that fail by name, and no committed notebook showing PHI."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from helpers.deploy import deid
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
STUDY_UID = "1.2.826.0.1.3680043.2.1125.99.1"
SERIES_UID = "1.2.826.0.1.3680043.2.1125.99.2"


def _phi_file(
    path: Path,
    *,
    burned_in: str | None = None,
    patient_id: str = "MRN12345678",
    modality: str = "CT",
) -> Path:
    write_dicom(path, np.arange(64, dtype=np.uint16).reshape(8, 8) * 100, modality=modality)
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
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
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


#: The answer key: attribute kind -> strings planted in :func:`_answer_key_file`.
ANSWER_KEY = {
    "names": ("Planted^Patientname", "Operator^Planted", "Nested^Personname", "Deep^Performer"),
    "ids": ("PID-PLANTED-77", "ACC-PLANTED-55", "OTHERPID-33", "STUDYID-88", "REQPROC-44"),
    "dates": ("19610203", "20190411", "19990102"),
    "times": ("061530",),
    "uids": (STUDY_UID, SERIES_UID, "1.2.826.0.1.3680043.2.1125.99.3"),
    "nested": ("NESTED-LEVEL-2-SECRET", "NESTED-LEVEL-3-SECRET", "REMOVED-SEQUENCE-SECRET"),
    "private": ("PRIVATE-TOP-SECRET", "PRIVATE-NESTED-SECRET"),
    "overlay": ("OVERLAY-LABEL-SECRET", "Overlay of Planted Patientname"),
    "curve": ("CURVE-LABEL-SECRET", "Curve of Planted Patientname"),
    "comments": (
        "Image comment names the patient",
        "Study comment names the patient",
        "Patient comment names the patient",
        "Additional history names the patient",
        "Derivation names the patient",
        "Visit comment names the patient",
        "Requested procedure comment names the patient",
        "Performed step comment names the patient",
    ),
}
#: Bytes planted in binary overlay and curve data (not text attributes, so not found by
#: phi_strings; the byte search must not find them either).
BINARY_MARKERS = (b"OVERLAY-BITS-MARKER!", b"CURVE-SAMPLES-MARKER")


def _answer_key_file(path: Path) -> Path:
    write_dicom(path, np.full((16, 16), 500, dtype=np.uint16))
    ds = pydicom.dcmread(path)
    names, ids, dates = ANSWER_KEY["names"], ANSWER_KEY["ids"], ANSWER_KEY["dates"]
    ds.PatientName, ds.OperatorsName = names[0], names[1]
    ds.PatientID, ds.AccessionNumber, ds.OtherPatientIDs, ds.StudyID = (
        ids[0],
        ids[1],
        ids[2],
        ids[3],
    )
    ds.PatientBirthDate, ds.StudyDate, ds.AcquisitionDateTime = (
        dates[0],
        dates[1],
        dates[2] + "101010",
    )
    ds.PatientBirthTime = ANSWER_KEY["times"][0]
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = ANSWER_KEY["uids"]
    # nested sequences: a kept one (references) three levels deep, and a removed one
    level3 = Dataset()
    level3.PersonName = names[3]
    level3.DerivationDescription = ANSWER_KEY["nested"][1]
    level3.add_new(0x00091001, "LO", "PRIVATE-NESTED-SECRET")  # private, unnamed creator
    content = Dataset()  # a removed sequence: all its text goes
    content.TextValue = ANSWER_KEY["nested"][2]
    level2 = Dataset()
    level2.ReferencedSOPInstanceUID = ANSWER_KEY["uids"][2]
    level2.ImageComments = ANSWER_KEY["nested"][0]
    level2.PersonName = names[2]
    level2.ContentSequence = Sequence([content])
    level2.ReferencedSeriesSequence = Sequence([level3])
    ds.ReferencedImageSequence = Sequence([level2])
    request = Dataset()
    request.RequestedProcedureID = ids[4]
    ds.RequestAttributesSequence = Sequence([request])
    block = ds.private_block(0x0013, "PLANTED PRIVATE", create=True)
    block.add_new(0x10, "LO", ANSWER_KEY["private"][0])
    # overlays in the first and last overlay groups, curves in the first and last curve groups
    for group in (0x6000, 0x601E):
        ds.add_new((group, 0x0010), "US", 16)
        ds.add_new((group, 0x0011), "US", 16)
        ds.add_new((group, 0x0040), "CS", "G")
        ds.add_new((group, 0x0050), "SS", [1, 1])
        ds.add_new((group, 0x0100), "US", 1)
        ds.add_new((group, 0x0102), "US", 0)
        ds.add_new((group, 0x0022), "LO", ANSWER_KEY["overlay"][1])
        ds.add_new((group, 0x1500), "LO", ANSWER_KEY["overlay"][0])
        ds.add_new((group, 0x3000), "OW", BINARY_MARKERS[0] * 2)  # 16x16 bits = 32 bytes
    for group in (0x5000, 0x501E):
        ds.add_new((group, 0x0022), "LO", ANSWER_KEY["curve"][1])
        ds.add_new((group, 0x2500), "LO", ANSWER_KEY["curve"][0])
        ds.add_new((group, 0x3000), "OB", BINARY_MARKERS[1])
    comments = ANSWER_KEY["comments"]
    ds.ImageComments, ds.StudyComments, ds.PatientComments = comments[0:3]
    ds.AdditionalPatientHistory, ds.DerivationDescription, ds.VisitComments = comments[3:6]
    ds.RequestedProcedureComments = comments[6]
    ds.CommentsOnThePerformedProcedureStep = comments[7]
    ds.save_as(path, enforce_file_format=True)
    return path


def _assert_no_phi(source: Path, target: Path, extra: tuple[str, ...] = ()) -> None:
    raw = target.read_bytes()
    leaked = [s for s in phi_strings(read_dataset(source)) | set(extra) if s.encode() in raw]
    assert not leaked, f"{source.name}: identifying strings survived: {leaked[:5]}"


def _repeating_groups(ds: Dataset) -> set[int]:
    return {e.tag.group for e in ds.iterall() if 0x5000 <= e.tag.group <= 0x60FF}


# -- the answer key ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ANSWER_KEY))
def test_answer_key_every_planted_identifier_is_gone(kind, tmp_path):
    source = _answer_key_file(tmp_path / "planted.dcm")
    planted = ANSWER_KEY[kind]
    found = phi_strings(read_dataset(source))
    missed = [s for s in planted if s not in found and not any(s in f for f in found)]
    assert not missed, f"phi_strings does not see planted {kind}: {missed}"
    target = Deidentifier("answer key").deidentify_file(source, tmp_path / "clean.dcm")
    raw = target.read_bytes()
    survived = [s for s in planted if s.encode() in raw]
    assert not survived, f"planted {kind} survived in the written file: {survived}"
    assert not (set(planted) & phi_strings(read_dataset(target)))
    _assert_no_phi(source, target)


def test_answer_key_binary_overlay_and_curve_data_are_gone(tmp_path):
    source = _answer_key_file(tmp_path / "planted.dcm")
    assert all(marker in source.read_bytes() for marker in BINARY_MARKERS)
    target = Deidentifier("answer key").deidentify_file(source, tmp_path / "clean.dcm")
    raw = target.read_bytes()
    assert not [m for m in BINARY_MARKERS if m in raw]
    out = read_dataset(target)
    assert _repeating_groups(out) == set()
    assert not any(element.tag.is_private for element in out.iterall())
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")
    assert "ContentSequence" not in out.ReferencedImageSequence[0]


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


def test_notebook_ct_result_is_unchanged(tmp_path):
    """The checked output of notebooks/08_deployment.ipynb (same key, same file)."""
    target = Deidentifier(secret="a key kept by the data custodian").deidentify_file(
        get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm"
    )
    out = pydicom.dcmread(target)
    assert out.PatientID == out.PatientName == "ANON-A1BC4EAB5A24"
    assert (out.StudyDate, out.StudyTime) == ("20030221", "072730")
    assert out.StudyInstanceUID.startswith("2.25.76979968045675181615040775762426877")
    assert "InstitutionName" not in out and out.PatientSex == ""


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


# -- 1: no mutation, repeatable ---------------------------------------------------------


def test_deidentify_does_not_mutate_its_input(tmp_path):
    ds = read_dataset(_answer_key_file(tmp_path / "planted.dcm"))
    before = copy.deepcopy(ds)
    Deidentifier("k").deidentify(ds)
    assert ds == before
    assert ds.file_meta == before.file_meta
    nested = ds.ReferencedImageSequence[0]
    assert nested.PersonName == ANSWER_KEY["names"][2]  # nested items are not shared
    assert nested.ReferencedSOPInstanceUID == ANSWER_KEY["uids"][2]
    assert "PatientIdentityRemoved" not in ds and ds.StudyDate == ANSWER_KEY["dates"][1]


def test_deidentify_twice_gives_the_same_output(tmp_path):
    ds = read_dataset(_phi_file(tmp_path / "phi.dcm"))
    tool = Deidentifier("k")
    first, second = tool.deidentify(ds), tool.deidentify(ds)
    assert first == second
    assert first.PatientID == second.PatientID
    expected = (pydicom.valuerep.DA("20240317") - tool.date_shift("MRN12345678")).strftime("%Y%m%d")
    assert first.StudyDate == second.StudyDate == expected  # shifted once, not twice


# -- 2: profile, overlays, curves, comments, method -------------------------------------


def test_removal_lists_name_real_attributes():
    unknown = [k for k in deid.REMOVE + deid.EMPTY if tag_for_keyword(k) is None]
    assert not unknown
    assert not set(deid.REMOVE) & set(deid.EMPTY)


@pytest.mark.parametrize(
    "group", [0x6000, 0x6002, 0x601E, 0x5000, 0x5010, 0x501E], ids=lambda g: f"{g:04X}"
)
def test_overlay_and_curve_groups_are_removed(group, tmp_path):
    ds = read_dataset(_phi_file(tmp_path / "phi.dcm"))
    ds.add_new((group, 0x0022), "LO", "GROUP-TEXT")
    ds.add_new((group, 0x3000), "OW", b"\x01\x02" * 8)
    out = Deidentifier("k").deidentify(ds)
    assert group not in {e.tag.group for e in out.iterall()}


@pytest.mark.parametrize(
    "keyword",
    [
        "ImageComments",
        "StudyComments",
        "PatientComments",
        "AdditionalPatientHistory",
        "DerivationDescription",
        "VisitComments",
        "FrameComments",
        "RequestedProcedureComments",
        "ImagingServiceRequestComments",
        "CommentsOnThePerformedProcedureStep",
        "IdentifyingComments",
        "TextComments",
    ],
)
def test_free_text_comments_are_removed(keyword, tmp_path):
    ds = read_dataset(_phi_file(tmp_path / "phi.dcm"))
    setattr(ds, keyword, "Free text naming Doe^Jane")
    item = Dataset()
    setattr(item, keyword, "Nested free text naming Doe^Jane")
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence.append(item)
    out = Deidentifier("k").deidentify(ds)
    assert keyword not in out and all(keyword not in i for i in out.ReferencedImageSequence)


def test_request_attributes_sequence_is_removed(tmp_path):
    ds = read_dataset(_phi_file(tmp_path / "phi.dcm"))
    item = Dataset()
    item.RequestedProcedureID = "REQ-1"
    item.ScheduledProcedureStepDescription = "Scan of Doe^Jane"
    ds.RequestAttributesSequence = Sequence([item])
    assert "RequestAttributesSequence" not in Deidentifier("k").deidentify(ds)


def test_profile_and_options_are_named_and_recorded(tmp_path):
    doc = " ".join(deid.__doc__.replace("*", "").split())
    assert "Basic Application Level Confidentiality Profile" in doc
    assert "Retain Longitudinal Temporal Information with Modified Dates Option" in doc
    assert "notebooks/08_deployment.ipynb" in doc
    assert deid.PROFILE == "Basic Application Level Confidentiality Profile"
    assert deid.OPTIONS == ("Retain Longitudinal Temporal Information with Modified Dates Option",)
    out = Deidentifier("k").deidentify(read_dataset(_phi_file(tmp_path / "phi.dcm")))
    assert out.PatientIdentityRemoved == "YES"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert list(out.DeidentificationMethod) == deid.METHOD
    assert all(len(value) <= 64 for value in out.DeidentificationMethod)  # LO
    codes = [
        (c.CodeValue, c.CodingSchemeDesignator) for c in out.DeidentificationMethodCodeSequence
    ]
    assert codes == [("113100", "DCM"), ("113107", "DCM")]


# -- 3: burned-in text ------------------------------------------------------------------


def test_burned_in_yes_is_refused_by_name_and_writes_nothing(tmp_path):
    source = _phi_file(tmp_path / "burned.dcm", burned_in="YES")
    target = tmp_path / "burned_out.dcm"
    with pytest.raises(DeidentificationError, match=r"burned\.dcm.*Burned In Annotation is YES"):
        Deidentifier("k").deidentify_file(source, target)
    assert not target.exists() and not list(tmp_path.glob(".burned_out*"))
    Deidentifier("k").deidentify_file(source, target, pixels_cleaned=True)
    out = pydicom.dcmread(target)
    assert out.BurnedInAnnotation == "NO" and out.PatientIdentityRemoved == "YES"
    assert "113101" in [c.CodeValue for c in out.DeidentificationMethodCodeSequence]
    assert deid.CLEAN_PIXEL_METHOD in out.DeidentificationMethod


@pytest.mark.parametrize("modality", sorted(deid.BURNED_IN_MODALITIES))
def test_burned_in_flag_absent_on_risky_modality_is_refused(modality, tmp_path):
    source = _phi_file(tmp_path / f"{modality}_image.dcm", modality=modality)
    with pytest.raises(DeidentificationError) as error:
        Deidentifier("k").deidentify_file(source, tmp_path / "out.dcm")
    message = str(error.value)
    assert str(source) in message and f"modality {modality}" in message
    assert "blank_regions" in message  # says what to do
    assert not (tmp_path / "out.dcm").exists()


def test_dataset_error_names_its_file_by_default(tmp_path):
    source = _phi_file(tmp_path / "from_disk.dcm", burned_in="YES")
    ds = pydicom.dcmread(source)
    with pytest.raises(DeidentificationError, match="from_disk.dcm"):
        Deidentifier("k").deidentify(ds)
    assert "PatientIdentityRemoved" not in ds  # never marked without handling the pixels


@pytest.mark.parametrize(("modality", "flag"), [("CT", None), ("MR", None), ("US", "NO")])
def test_no_burned_in_risk_is_accepted(modality, flag, tmp_path):
    source = _phi_file(tmp_path / "ok.dcm", modality=modality, burned_in=flag)
    out = pydicom.dcmread(Deidentifier("k").deidentify_file(source, tmp_path / "out.dcm"))
    assert out.PatientIdentityRemoved == "YES"
    assert "113101" not in [c.CodeValue for c in out.DeidentificationMethodCodeSequence]


def test_blank_regions_zero_the_pixels_and_clear_the_flag(tmp_path):
    source = _phi_file(tmp_path / "us.dcm", modality="US")
    target = Deidentifier("k").deidentify_file(
        source, tmp_path / "out.dcm", blank_regions=[(0, 2, 0, 8), (5, 7, 6, 8)]
    )
    before, out = pydicom.dcmread(source).pixel_array, pydicom.dcmread(target)
    after = out.pixel_array
    assert (after[0:2, :] == 0).all() and (after[5:7, 6:8] == 0).all()
    keep = np.ones_like(before, dtype=bool)
    keep[0:2, :] = keep[5:7, 6:8] = False
    assert (after[keep] == before[keep]).all()
    assert out.BurnedInAnnotation == "NO" and out.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == [
        "113100",
        "113107",
        "113101",
    ]


def test_blank_regions_on_compressed_colour_image(tmp_path):
    source = Path(get_testdata_file("SC_rgb_rle.dcm"))  # OT, RGB, RLE, no burned-in flag
    with pytest.raises(DeidentificationError, match=r"SC_rgb_rle\.dcm.*modality OT"):
        Deidentifier("k").deidentify_file(source, tmp_path / "out.dcm")
    target = Deidentifier("k").deidentify_file(
        source, tmp_path / "out.dcm", blank_regions=[(0, 10, 0, 20)]
    )
    out, original = pydicom.dcmread(target), pydicom.dcmread(source).pixel_array
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (out.pixel_array[0:10, 0:20] == 0).all()
    assert (out.pixel_array[10:] == original[10:]).all()
    assert out.BurnedInAnnotation == "NO"
    _assert_no_phi(source, target)


@pytest.mark.parametrize(
    ("regions", "reason"),
    [([(0, 20, 0, 4)], "outside"), ([(3, 3, 0, 4)], "empty"), ([(0, 1, 2)], "four integers")],
)
def test_bad_blank_regions_are_refused_by_name(regions, reason, tmp_path):
    source = _phi_file(tmp_path / "regions.dcm", modality="US")
    with pytest.raises(DeidentificationError, match=rf"regions\.dcm.*{reason}"):
        Deidentifier("k").deidentify_file(source, tmp_path / "out.dcm", blank_regions=regions)
    assert not (tmp_path / "out.dcm").exists()


def test_overlay_in_unused_pixel_bits_is_refused(tmp_path):
    source = _phi_file(tmp_path / "embedded.dcm")
    ds = pydicom.dcmread(source)
    ds.add_new((0x6000, 0x0010), "US", 8)
    ds.add_new((0x6000, 0x0102), "US", 15)  # bit 15 of the pixel data, no Overlay Data
    ds.save_as(source)
    with pytest.raises(DeidentificationError, match=r"embedded\.dcm.*overlay group 6000"):
        Deidentifier("k").deidentify_file(source, tmp_path / "out.dcm")


# -- 4: files without patient identifiers -----------------------------------------------


@pytest.mark.parametrize("name", ["", "Anonymous", "UNKNOWN"])
def test_files_without_patient_identifiers_get_distinct_pseudonyms(name, tmp_path):
    outputs = []
    for index, study in enumerate((STUDY_UID, STUDY_UID + "0", STUDY_UID)):
        path = write_dicom(tmp_path / f"{index}.dcm", np.zeros((4, 4), np.uint16), patient_name="")
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.StudyInstanceUID = name, study
        outputs.append(Deidentifier("k").deidentify(ds))
        assert Deidentifier.identity(ds) == "study:" + study
    first, other_study, same_study = (str(o.PatientID) for o in outputs)
    assert first != other_study  # different studies, different pseudonyms
    assert first == same_study  # the same study keeps one pseudonym
    assert first != Deidentifier("k").pseudonym("unknown")


def test_without_any_uid_the_pseudonym_comes_from_the_content():
    a, b = Dataset(), Dataset()
    a.Modality, b.Modality = "CT", "MR"
    pseudonyms = {Deidentifier("k").deidentify(d).PatientID for d in (a, b)}
    assert len(pseudonyms) == 2
    a.SOPInstanceUID = "1.2.3.4"
    assert Deidentifier.identity(a) == "instance:1.2.3.4"
    assert Deidentifier("k").deidentify(a).PatientID == Deidentifier("k").deidentify(a).PatientID


# -- 5: reading and writing fail by name, leaving nothing -------------------------------


def test_bad_file_names_itself_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(DeidentificationError, match="broken.dcm"):
        Deidentifier("k").deidentify_file(bad, tmp_path / "x" / "out.dcm")
    assert not (tmp_path / "x" / "out.dcm").exists()


def test_target_under_a_file_fails_by_name(tmp_path):
    source = _phi_file(tmp_path / "phi.dcm")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    target = blocker / "out.dcm"
    with pytest.raises(DeidentificationError, match=r"a_file/out\.dcm.*cannot write") as error:
        Deidentifier("k").deidentify_file(source, target)
    assert "phi.dcm" in str(error.value)
    assert blocker.read_text() == "not a folder"


def test_target_that_is_a_folder_leaves_no_partial_file(tmp_path):
    source = _phi_file(tmp_path / "phi.dcm")
    target = tmp_path / "out" / "taken.dcm"
    target.mkdir(parents=True)
    with pytest.raises(DeidentificationError, match=r"taken\.dcm"):
        Deidentifier("k").deidentify_file(source, target)
    assert target.is_dir() and sorted(p.name for p in target.parent.iterdir()) == ["taken.dcm"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_unwritable_folder_fails_by_name(tmp_path):
    source = _phi_file(tmp_path / "phi.dcm")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DeidentificationError, match=r"locked/out\.dcm"):
            Deidentifier("k").deidentify_file(source, folder / "out.dcm")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_failure_while_writing_leaves_no_half_written_file(tmp_path, monkeypatch):
    source = _phi_file(tmp_path / "phi.dcm")
    target = tmp_path / "out" / "half.dcm"

    def fail_halfway(self, filename, **kwargs):
        Path(filename).write_bytes(b"DICM" + b"\0" * 100)  # a partial write, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", fail_halfway)
    with pytest.raises(DeidentificationError, match=r"half\.dcm.*No space left") as error:
        Deidentifier("k").deidentify_file(source, target)
    assert isinstance(error.value.__cause__, OSError)
    assert list(target.parent.iterdir()) == []


def test_no_committed_notebook_output_contains_phi_from_the_test_files():
    phi = set(GENERATED_PHI)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        phi |= {s for s in phi_strings(pydicom.dcmread(get_testdata_file(name))) if len(s) >= 6}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        text = json.dumps([cell.get("outputs", []) for cell in cells])
        found = [s for s in phi if s in text]
        assert not found, f"{notebook.name} shows PHI from the test files: {found[:5]}"
