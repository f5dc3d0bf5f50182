"""DICOM de-identification following DICOM PS3.15 Annex E: the **Basic Application Level
Confidentiality Profile** with the **Retain Longitudinal Temporal Information with Modified
Dates Option**, plus the **Clean Pixel Data Option** when the caller blanks (or vouches for)
the pixels. Taught in ``notebooks/08_deployment.ipynb``.

What it does, in the profile's terms (Table E.1-1), for the attributes a file contains:

- **X** (remove): addresses, telephone numbers, other IDs and names, physicians,
  operators, institution and station, descriptions, protocol names, every free-text
  comment (any standard attribute whose keyword says *Comment(s)*, e.g. Image, Study,
  Patient, Visit, Frame and Requested Procedure Comments), Additional Patient History,
  Derivation Description, Request Attributes Sequence, icon images, ... (:data:`REMOVE`);
  **overlay planes** (all of groups 6000-601E, even) and **curves** (groups 5000-501E);
  all **private tags**;
- **Z** (empty): birth date, sex, accession number, study ID, referring physician
  (:data:`EMPTY`); any person name left anywhere (VR PN) is emptied;
- **D** (dummy): patient name and ID become a pseudonym derived with a secret key from the
  patient's identity (:meth:`Deidentifier.identity`): the Patient ID; without one the
  Patient Name; without either (or with placeholders such as ``Anonymous``) the Study
  Instance UID, so each *study* gets its own pseudonym, then the SOP Instance UID, and as a
  last resort a digest of the data set's content -- never one pseudonym shared by
  unrelated files;
- **dates** (option "Modified Dates"): every DA/DT is shifted back by a per-identity offset
  of 1 to ``max_shift_days`` days (from the same keyed hash), so intervals between a
  patient's studies are kept; times are kept; Longitudinal Temporal Information Modified
  becomes ``MODIFIED``;
- **U** (UIDs): every UID that is not a standard DICOM UID (``1.2.840.10008.*``) is
  remapped to ``2.25.<number>`` by a keyed hash, consistently across files and inside
  sequences (references stay valid);
- **burned-in text**: pixels are not searched (no OCR). A file whose Burned In Annotation
  is ``YES``, or absent on a modality where text is commonly burned in
  (:data:`BURNED_IN_MODALITIES`: US, SC, OT, XA, ES), is refused with a
  :class:`DeidentificationError` unless the caller passes ``blank_regions`` (rectangles
  ``(row0, row1, col0, col1)``, half-open, in stored-pixel coordinates, zeroed in every
  frame) or ``pixels_cleaned=True`` (the caller vouches that the pixels were cleaned);
  then Burned In Annotation becomes ``NO`` and the Clean Pixel Data Option is recorded;
- Patient Identity Removed = ``YES``, De-identification Method (the profile and options,
  :data:`METHOD`) and De-identification Method Code Sequence (CID 7050 codes 113100,
  113107 and, when the pixels were handled, 113101; :data:`METHOD_CODES`) are recorded,
  as PS3.15 E.1.1 asks.

:meth:`Deidentifier.deidentify` never changes the data set it is given (it works on a deep
copy), so calling it twice gives the same output. :meth:`Deidentifier.deidentify_file`
writes atomically: a failure raises :class:`DeidentificationError` naming the path and
leaves no partial file. Overlays stored in unused bits of the pixel data (a retired
encoding) cannot be removed without touching the pixels, so such files are refused.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag

from helpers import atomic

#: The PS3.15 Annex E profile applied.
PROFILE = "Basic Application Level Confidentiality Profile"
#: The profile options always applied.
OPTIONS = ("Retain Longitudinal Temporal Information with Modified Dates Option",)
#: The option recorded in addition when the pixels were blanked (or vouched for) by the caller.
CLEAN_PIXEL_OPTION = "Clean Pixel Data Option"

#: De-identification Method (0012,0063) is LO (64 characters a value), so one value per part.
METHOD = [
    "DICOM PS3.15 Basic Application Level Confidentiality Profile",
    "Retain Longitudinal Temporal Info with Modified Dates Option",
    "helpers.deploy.deid",
]
#: The Method value added when the Clean Pixel Data Option applies.
CLEAN_PIXEL_METHOD = "Clean Pixel Data Option"
#: CID 7050 codes (scheme DCM) of the profile and option always applied.
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)
#: CID 7050 code of the Clean Pixel Data Option.
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")

#: Modalities whose images commonly carry burned-in text (ultrasound, secondary capture,
#: other, X-ray angiography, endoscopy): refused when Burned In Annotation is absent.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "XA", "ES"})
#: Repeating groups removed whole: overlay planes (6000-601E) and curves (5000-501E).
OVERLAY_GROUPS = range(0x6000, 0x6020, 2)
CURVE_GROUPS = range(0x5000, 0x5020, 2)

#: A rectangle of pixels to blank: ``(row0, row1, col0, col1)``, half-open.
Region = tuple[int, int, int, int]

#: Attributes removed (action X, or X/Z, X/D, X/Z/D resolved as X, in PS3.15 Table E.1-1)
#: when present, at any depth. Free-text comments are also removed by :func:`_is_comment`.
REMOVE = (
    # patient
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthTime",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientSexNeutered",
    "MilitaryRank",
    "BranchOfService",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientReligiousPreference",
    "PatientInstitutionResidence",
    "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence",
    "PatientTransportArrangements",
    "MedicalRecordLocator",
    "MedicalAlerts",
    "Allergies",
    "PregnancyStatus",
    "LastMenstrualDate",
    "SmokingStatus",
    "SpecialNeeds",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PatientInsurancePlanCodeSequence",
    "InsurancePlanIdentification",
    "CountryOfResidence",
    "RegionOfResidence",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "PatientState",
    "ReferencedPatientSequence",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientPhotoSequence",
    "IdentifyingComments",
    # visit and admission
    "CurrentPatientLocation",
    "AdmissionID",
    "IssuerOfAdmissionID",
    "IssuerOfAdmissionIDSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "DischargeDiagnosisDescription",
    "ServiceEpisodeID",
    "ServiceEpisodeDescription",
    "IssuerOfServiceEpisodeID",
    "IssuerOfServiceEpisodeIDSequence",
    "VisitComments",
    # institution, equipment, staff
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionalDepartmentName",
    "InstitutionalDepartmentTypeCodeSequence",
    "StationName",
    "DeviceSerialNumber",
    "DeviceLabel",
    "PlateID",
    "CassetteID",
    "GantryID",
    "DetectorID",
    "GeneratorID",
    "SoftwareVersions",
    "ModifyingDeviceID",
    "ModifyingDeviceManufacturer",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "ConsultingPhysicianName",
    "ConsultingPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "RequestingPhysician",
    "RequestingService",
    "ScheduledPerformingPhysicianName",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ActualHumanPerformersSequence",
    "ScheduledHumanPerformersSequence",
    "HumanPerformerName",
    "HumanPerformerOrganization",
    "PersonName",
    "PersonAddress",
    "PersonTelephoneNumbers",
    "PersonTelecomInformation",
    "PersonIdentificationCodeSequence",
    "ContentCreatorName",
    "ContentCreatorIdentificationCodeSequence",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
    "ReviewerName",
    "AuthorObserverSequence",
    "ParticipantSequence",
    "CustodialOrganizationSequence",
    "InstanceCreatorUID",
    # study, series, procedure descriptions
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "StudyIDIssuer",
    "ReasonForStudy",
    "ReasonForTheImagingServiceRequest",
    "ProcedureCodeSequence",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedureLocation",
    "RequestedContrastAgent",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedLocation",
    "PerformedStationAETitle",
    "PerformedStationName",
    "PerformedStationNameCodeSequence",
    "PerformedStationGeographicLocationCodeSequence",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation",
    "ScheduledStationAETitle",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle",
    "ScheduledPatientInstitutionResidence",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OrderCallbackPhoneNumber",
    "OrderCallbackTelecomInformation",
    "ReferencedStudySequence",
    "AcquisitionContextSequence",
    "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription",
    "ContrastBolusAgent",
    "PreMedication",
    "DerivationDescription",
    "ContributionDescription",
    "ModifiedImageDescription",
    "TimezoneOffsetFromUTC",
    # free text, reports, results, interpretation
    "ImageComments",
    "StudyComments",
    "FrameComments",
    "AcquisitionComments",
    "TextComments",
    "TextString",
    "ContentSequence",
    "Impressions",
    "ResultsComments",
    "ResultsIDIssuer",
    "ResultsDistributionListSequence",
    "DistributionName",
    "DistributionAddress",
    "NamesOfIntendedRecipientsOfResults",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationRecorder",
    "InterpretationTranscriber",
    "InterpretationAuthor",
    "InterpretationText",
    "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer",
    "InterpretationApproverSequence",
    "PhysicianApprovingInterpretation",
    "TopicTitle",
    "TopicSubject",
    "TopicAuthor",
    "TopicKeywords",
    "Arbitrary",
    "AddressTrial",
    "CurrentObserverTrial",
    # pictures and audit trails that may repeat anything above
    "IconImageSequence",
    "OriginalAttributesSequence",
    "ModifiedAttributesSequence",
    # signatures, which would no longer verify
    "DigitalSignaturesSequence",
    "DigitalSignatureUID",
    "ReferencedDigitalSignatureSequence",
    "ReferencedSOPInstanceMACSequence",
    "MAC",
    "DataSetTrailingPadding",
)
#: Attributes kept but emptied (action Z).
EMPTY = ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "ReferringPhysicianName")
#: Patient IDs and names that identify nobody; files carrying only these get a per-study
#: pseudonym instead (compared lower-case, with ``^`` as a space).
PLACEHOLDERS = frozenset(
    {"anonymous", "anon", "unknown", "none", "null", "n/a", "na", "noname", "no name", "-", "?"}
)

_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "PN", "CS", "AE", "UC"})
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})


class DeidentificationError(ValueError):
    """A file cannot be de-identified safely (names the file and the reason)."""


def _keyed(secret: bytes, value: str) -> bytes:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).digest()


def _is_comment(element: DataElement) -> bool:
    """A standard free-text comment attribute (``...Comments``, ``CommentsOn...``)."""
    return (
        not element.tag.is_private
        and "Comment" in element.keyword
        and (element.VR in _FREE_TEXT_VRS or element.VR == "SQ")
    )


def _in_repeating_group(tag: int) -> bool:
    """An overlay (6000-601E) or curve (5000-501E) group element."""
    group = Tag(tag).group
    return group in OVERLAY_GROUPS or group in CURVE_GROUPS


def _label(ds: Dataset, name: str | os.PathLike[str] | None) -> str:
    if name is not None:
        return str(name)
    filename = getattr(ds, "filename", None)
    return str(filename) if isinstance(filename, (str, os.PathLike)) and filename else "dataset"


def _content_digest(ds: Dataset) -> str:
    """A digest of every element (tag, VR, value), nested sequences included."""
    digest = hashlib.sha256()

    def walk(d: Dataset) -> None:
        for element in d:
            digest.update(f"{element.tag:08X}{element.VR}".encode())
            if element.VR == "SQ":
                for item in element.value:
                    digest.update(b"(")
                    walk(item)
                    digest.update(b")")
            elif isinstance(element.value, (bytes, bytearray)):
                digest.update(bytes(element.value))
            else:
                digest.update(repr(element.value).encode("utf-8", "replace"))

    walk(ds)
    return digest.hexdigest()


def _check_regions(regions: Iterable[Sequence[int]], label: str) -> list[Region]:
    checked: list[Region] = []
    for region in regions:
        values = tuple(region)
        if len(values) != 4 or not all(isinstance(v, (int, np.integer)) for v in values):
            raise DeidentificationError(
                f"{label}: a blank region must be four integers (row0, row1, col0, col1), "
                f"got {region!r}"
            )
        row0, row1, col0, col1 = (int(v) for v in values)
        if not (0 <= row0 < row1 and 0 <= col0 < col1):
            raise DeidentificationError(
                f"{label}: blank region {values} is empty or negative; "
                "use (row0, row1, col0, col1) with row0 < row1 and col0 < col1"
            )
        checked.append((row0, row1, col0, col1))
    return checked


def _blank_pixels(ds: Dataset, regions: list[Region], label: str) -> None:
    """Zero ``regions`` in every frame of ``ds``'s pixel data, in place (decompressing a
    compressed transfer syntax first; the output is then uncompressed)."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    try:
        if syntax is not None and syntax.is_compressed:
            ds.decompress(generate_instance_uid=False)
    except Exception as exc:
        raise DeidentificationError(
            f"{label}: cannot decompress the pixel data to blank regions ({exc}); "
            "convert the file to an uncompressed transfer syntax first"
        ) from exc
    if syntax is not None and syntax == pydicom.uid.ExplicitVRBigEndian:
        raise DeidentificationError(f"{label}: big endian pixel data cannot be blanked")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    bits = int(ds.get("BitsAllocated", 0))
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}.get(bits)
    if dtype is None or not rows or not cols or photometric.endswith(("_422", "_420")):
        raise DeidentificationError(
            f"{label}: cannot blank pixel data with {bits} bits allocated, {rows}x{cols} "
            f"pixels and {photometric or 'no'} photometric interpretation"
        )
    for row0, row1, col0, col1 in regions:
        if row1 > rows or col1 > cols:
            raise DeidentificationError(
                f"{label}: blank region {(row0, row1, col0, col1)} lies outside the "
                f"{rows}x{cols} image"
            )
    raw = bytearray(ds.PixelData)
    count = frames * rows * cols * samples
    if len(raw) < count * np.dtype(dtype).itemsize:
        raise DeidentificationError(f"{label}: the pixel data are shorter than declared")
    pixels = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=count)
    planar = samples > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1
    shape = (frames, samples, rows, cols) if planar else (frames, rows, cols, samples)
    pixels = pixels.reshape(shape)
    for row0, row1, col0, col1 in regions:
        if planar:
            pixels[:, :, row0:row1, col0:col1] = 0
        else:
            pixels[:, row0:row1, col0:col1, :] = 0
    ds.PixelData = bytes(raw)


class Deidentifier:
    """Applies the profile with one secret key, so that pseudonyms, date offsets and UID
    remappings are the same in every file of a batch (and in later batches with the same
    key). Keep the key secret: with it, the mapping can be recomputed."""

    def __init__(self, secret: str | bytes, max_shift_days: int = 365) -> None:
        if not secret:
            raise ValueError(
                "a non-empty secret key is needed (it keys pseudonyms, date shifts and UIDs)"
            )
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.max_shift_days = max_shift_days

    def pseudonym(self, patient_id: str) -> str:
        """``ANON-`` and 12 hex digits of the keyed hash of the identity."""
        return "ANON-" + _keyed(self.secret, "id:" + patient_id).hex()[:12].upper()

    def date_shift(self, patient_id: str) -> dt.timedelta:
        """Between 1 and ``max_shift_days`` days back, fixed per identity."""
        value = int.from_bytes(_keyed(self.secret, "date:" + patient_id)[:4], "big")
        return dt.timedelta(days=1 + value % self.max_shift_days)

    def uid(self, original: str) -> str:
        """A new UID under the 2.25 (UUID-derived) root, the same for the same input."""
        return "2.25." + str(int.from_bytes(_keyed(self.secret, "uid:" + original)[:16], "big"))

    @staticmethod
    def identity(ds: Dataset) -> str:
        """What the pseudonym and date shift are derived from: the Patient ID; else the
        Patient Name; else (both absent, empty or placeholders like ``Anonymous``)
        ``study:`` + Study Instance UID, so each study gets its own pseudonym; else
        ``instance:`` + SOP Instance UID (or the file meta's copy of it); else ``content:``
        + a digest of all elements. Distinct files without patient identifiers thus never
        share a pseudonym (intervals between such files' studies are not kept)."""
        for keyword in ("PatientID", "PatientName"):
            value = str(ds.get(keyword, "") or "").strip()
            if value and value.replace("^", " ").strip().lower() not in PLACEHOLDERS:
                return value
        meta = getattr(ds, "file_meta", None)
        for prefix, value in (
            ("study:", ds.get("StudyInstanceUID")),
            ("instance:", ds.get("SOPInstanceUID")),
            ("instance:", meta.get("MediaStorageSOPInstanceUID") if meta is not None else None),
        ):
            if value and str(value).strip():
                return prefix + str(value).strip()
        return "content:" + _content_digest(ds)

    # -- the walk over the data set -------------------------------------------------

    def _shift_date(self, value: object, shift: dt.timedelta) -> str:
        text = str(value).strip()
        if len(text) < 8 or not text[:8].isdigit():
            return ""  # a date we cannot parse is removed rather than kept
        try:
            day = dt.datetime.strptime(text[:8], "%Y%m%d").date() - shift
        except ValueError:
            return ""
        return day.strftime("%Y%m%d") + text[8:]

    def _walk(self, ds: Dataset, shift: dt.timedelta) -> None:
        ds.remove_private_tags()
        for keyword in REMOVE:
            if keyword in ds:
                delattr(ds, keyword)
        for keyword in EMPTY:
            if keyword in ds:
                ds.data_element(keyword).value = ""
        for element in list(ds):
            if _in_repeating_group(element.tag) or _is_comment(element):
                del ds[element.tag]
            elif element.VR == "SQ":
                for item in element.value:
                    self._walk(item, shift)
            elif element.VR == "UI" and element.value:
                values = element.value if element.VM > 1 else [element.value]
                mapped = [
                    v if str(v).startswith("1.2.840.10008.") else self.uid(str(v)) for v in values
                ]
                element.value = mapped if element.VM > 1 else mapped[0]
            elif element.VR in ("DA", "DT") and element.value:
                values = element.value if element.VM > 1 else [element.value]
                shifted = [self._shift_date(v, shift) for v in values]
                element.value = shifted if element.VM > 1 else shifted[0]
            elif element.VR == "PN" and element.tag != 0x00100010:
                element.value = ""

    @staticmethod
    def burned_in_risk(ds: Dataset) -> str | None:
        """Why the pixels of ``ds`` may show identifiers, or None: Burned In Annotation is
        ``YES``, or it is absent (or not ``NO``) on a modality of
        :data:`BURNED_IN_MODALITIES`. Data sets without pixel data carry no such risk."""
        if "PixelData" not in ds:
            return None
        flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        if flag == "YES":
            return "Burned In Annotation is YES"
        modality = str(ds.get("Modality", "") or "").strip().upper()
        if flag != "NO" and modality in BURNED_IN_MODALITIES:
            state = f"is {flag!r}" if flag else "is absent"
            return (
                f"Burned In Annotation {state} and modality {modality} often has text "
                "burned into the pixels"
            )
        return None

    def deidentify(
        self,
        ds: Dataset,
        *,
        pixels_cleaned: bool = False,
        blank_regions: Iterable[Sequence[int]] | None = None,
        name: str | os.PathLike[str] | None = None,
    ) -> Dataset:
        """A de-identified deep copy of ``ds`` (``ds`` itself is never changed, so two calls
        give the same result).

        Pixels that may show identifiers (:meth:`burned_in_risk`) are refused with a
        :class:`DeidentificationError` unless ``blank_regions`` (rectangles ``(row0, row1,
        col0, col1)``, half-open, zeroed in every frame) or ``pixels_cleaned=True`` (the
        caller vouches for the pixels) is given; ``blank_regions`` are blanked in any file
        with pixel data. ``name`` (default: the data set's file name) labels errors."""
        label = _label(ds, name)
        regions = _check_regions(blank_regions, label) if blank_regions is not None else []
        risk = self.burned_in_risk(ds)
        if risk and not (pixels_cleaned or regions):
            raise DeidentificationError(
                f"{label}: {risk}, so the pixels may show identifiers; refusing to "
                "de-identify it. Look at the image, then pass blank_regions=[(row0, row1, "
                "col0, col1), ...] to blank the text, or pixels_cleaned=True if the pixels "
                "were cleaned already"
            )
        for group in OVERLAY_GROUPS:
            if Tag(group, 0x0010) in ds and Tag(group, 0x3000) not in ds:
                raise DeidentificationError(
                    f"{label}: overlay group {group:04X} is stored in unused bits of the pixel "
                    "data (a retired encoding) and cannot be removed without editing the "
                    "pixels; clear those bits or convert the overlay first"
                )
        out = copy.deepcopy(ds)
        identity = self.identity(ds)
        self._walk(out, self.date_shift(identity))
        handled_pixels = "PixelData" in out and (pixels_cleaned or bool(regions))
        if regions and "PixelData" in out:
            _blank_pixels(out, regions, label)
        out.PatientName = self.pseudonym(identity)
        out.PatientID = self.pseudonym(identity)
        if handled_pixels:
            out.BurnedInAnnotation = "NO"
        out.PatientIdentityRemoved = "YES"
        out.LongitudinalTemporalInformationModified = "MODIFIED"
        out.DeidentificationMethod = METHOD + ([CLEAN_PIXEL_METHOD] if handled_pixels else [])
        codes = []
        for value, meaning in METHOD_CODES + ((CLEAN_PIXEL_CODE,) if handled_pixels else ()):
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            codes.append(item)
        out.DeidentificationMethodCodeSequence = DicomSequence(codes)
        if hasattr(out, "file_meta"):
            # The file meta header repeats the instance UID: keep it equal to the new one.
            if "SOPInstanceUID" in out:
                out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
            elif out.file_meta.get("MediaStorageSOPInstanceUID"):
                out.file_meta.MediaStorageSOPInstanceUID = self.uid(
                    str(out.file_meta.MediaStorageSOPInstanceUID)
                )
            if "SOPClassUID" in out and not out.file_meta.get("MediaStorageSOPClassUID"):
                out.file_meta.MediaStorageSOPClassUID = out.SOPClassUID
        return out

    def deidentify_file(
        self,
        source: str | os.PathLike[str],
        target: str | os.PathLike[str],
        *,
        pixels_cleaned: bool = False,
        blank_regions: Iterable[Sequence[int]] | None = None,
    ) -> Path:
        """Read ``source``, de-identify (see :meth:`deidentify`), write ``target``
        atomically (complete or absent, never half-written). Raises
        :class:`DeidentificationError` naming ``source`` (unreadable, unsafe) or
        ``target`` (cannot be written)."""
        source, target = Path(source), Path(target)
        ds = read_dataset(source)
        clean = self.deidentify(
            ds, pixels_cleaned=pixels_cleaned, blank_regions=blank_regions, name=str(source)
        )
        meta = getattr(clean, "file_meta", Dataset())
        complete = all(
            meta.get(k)
            for k in ("TransferSyntaxUID", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID")
        )
        try:
            with atomic.staged_file(target) as staging:
                clean.save_as(staging, enforce_file_format=complete)
        except Exception as exc:  # OSError for the folder, pydicom's errors for the encoding
            raise DeidentificationError(
                f"{target}: cannot write the de-identified copy of {source}: {exc}"
            ) from exc
        return target


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a DICOM file, also one without the 128-byte preamble and file meta header (older
    files), but refuse anything that does not look like DICOM. Raises
    :class:`DeidentificationError` naming the file."""
    try:
        return pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError:
        pass
    except Exception as exc:  # pydicom raises several types for damaged files
        raise DeidentificationError(f"{path}: not a readable DICOM file: {exc}") from exc
    try:
        ds = pydicom.dcmread(path, force=True)
        if not any(k in ds for k in ("SOPClassUID", "PatientID", "PatientName", "Modality")):
            raise ValueError("no DICOM attributes found")
        return ds
    except Exception as exc:
        raise DeidentificationError(f"{path}: not a readable DICOM file: {exc}") from exc


def phi_strings(ds: Dataset, min_length: int = 4) -> set[str]:
    """The identifying strings of a data set: values of the attributes the profile removes
    or replaces, free-text comments, overlay and curve text, person names, dates, instance
    UIDs, and private text; minus any string that also appears in a non-identifying
    attribute (a private tag repeating the manufacturer's name is not PHI). What must not
    survive de-identification; used by the tests and ``notebooks/08_deployment.ipynb``.
    Binary values (overlay bits, curve samples, pixels) are not included."""
    keywords = set(REMOVE) | set(EMPTY) | {"PatientName", "PatientID"}
    sensitive: set[str] = set()
    public: set[str] = set()

    def strings(element: DataElement) -> set[str]:
        values = element.value if element.VM > 1 else [element.value]
        out = set()
        for value in values:
            for text in {str(value), *str(value).split("^")}:
                if len(text.strip()) >= min_length:
                    out.add(text.strip())
        return out

    def walk(d: Dataset, hidden: bool) -> None:
        for element in d:
            removed = hidden or element.keyword in keywords or _in_repeating_group(element.tag)
            if element.VR == "SQ":
                for item in element.value:
                    walk(item, removed or _is_comment(element))
                continue
            if element.value in (None, "") or element.VR in ("OB", "OW", "OF", "OD", "UN"):
                continue
            private_text = (
                element.tag.is_private
                and element.VR in _TEXT_VRS
                and any(ch.isalpha() for ch in str(element.value))
            )
            if (
                removed
                or _is_comment(element)
                or element.VR in ("PN", "DA", "DT")
                or private_text
                or (element.VR == "UI" and not str(element.value).startswith("1.2.840.10008."))
            ):
                sensitive.update(strings(element))
            elif not element.tag.is_private:
                public.update(strings(element))

    walk(ds, False)
    return {text for text in sensitive if not any(text in other for other in public)}
