"""DICOM de-identification following the Basic Application Level Confidentiality Profile
of DICOM PS3.15 (Annex E), for the attributes a file actually contains, with the
"Retain Longitudinal Temporal Information with Modified Dates" option. Taught in
``notebooks/08_deployment.ipynb``.

What it does, in the profile's terms:

- **X** (remove): addresses, telephone numbers, other IDs and names, physicians,
  operators, institution and station, descriptions and comments, ...;
- **Z/D** (replace): patient name and ID become a pseudonym derived from the original ID
  with a secret key (the same patient gets the same pseudonym in every file); birth date,
  accession number, study ID are emptied;
- **dates** are shifted by a per-patient offset (from the same keyed hash), so intervals
  between a patient's studies are kept; times are kept;
- **U** (UIDs): every UID that is not a standard DICOM UID (``1.2.840.10008.*``) is
  remapped to ``2.25.<number>`` by a keyed hash, consistently across files and inside
  sequences (references stay valid);
- private tags are removed; any person name left anywhere (VR PN) is emptied;
- **Burned In Annotation = YES** means the pixels themselves may show identifiers: such
  files are refused unless the caller says the pixels were cleaned;
- Patient Identity Removed = YES and the De-identification Method (and its codes
  113100, 113107) are recorded.

Pixel data are not inspected (no OCR): use the burned-in flag, and check it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from helpers import atomic

#: De-identification Method (0012,0063) is LO (64 characters a value), so one value per part.
METHOD = [
    "DICOM PS3.15 Basic Application Level Confidentiality Profile",
    "Retain Longitudinal Temporal Info with Modified Dates Option",
    "helpers.deploy.deid",
]
#: CID 7050 codes of the profile and option applied.
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)

#: Attributes removed (action X in PS3.15 Table E.1-1) when present.
REMOVE = (
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
    "MilitaryRank",
    "BranchOfService",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientReligiousPreference",
    "MedicalRecordLocator",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PatientInsurancePlanCodeSequence",
    "CountryOfResidence",
    "RegionOfResidence",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionalDepartmentName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
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
    "StationName",
    "DeviceSerialNumber",
    "PlateID",
    "CassetteID",
    "GantryID",
    "DetectorID",
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "RequestAttributesSequence",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepDescription",
    "RequestedProcedureDescription",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "DerivationDescription",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "IssuerOfPatientID",
    "PatientState",
    "CurrentPatientLocation",
    "AdmissionID",
    "IssuerOfAdmissionID",
    "ServiceEpisodeID",
    "VisitComments",
    "InterpretationRecorder",
    "InterpretationTranscriber",
    "InterpretationAuthor",
    "TextComments",
    "ProtocolName",
    "AcquisitionComments",
    "ContrastBolusAgent",
    "FrameComments",
    "ContentCreatorName",
    "ContentCreatorIdentificationCodeSequence",
    "PersonName",
    "VerifyingObserverName",
    "VerifyingOrganization",
    "AuthorObserverSequence",
    "ParticipantSequence",
    "InstanceCreatorUID",
)
#: Attributes kept but emptied (action Z).
EMPTY = ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "ReferringPhysicianName")


class DeidentificationError(ValueError):
    """A file cannot be de-identified safely (names the file and the reason)."""


def _keyed(secret: bytes, value: str) -> bytes:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).digest()


class Deidentifier:
    """Applies the profile with one secret key, so that pseudonyms, date offsets and UID
    remappings are the same in every file of a batch (and in later batches with the same
    key). Keep the key secret: with it, the mapping can be recomputed."""

    def __init__(self, secret: str | bytes, max_shift_days: int = 365):
        if not secret:
            raise ValueError(
                "a non-empty secret key is needed (it keys pseudonyms, date shifts and UIDs)"
            )
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.max_shift_days = max_shift_days

    def pseudonym(self, patient_id: str) -> str:
        return "ANON-" + _keyed(self.secret, "id:" + patient_id).hex()[:12].upper()

    def date_shift(self, patient_id: str) -> dt.timedelta:
        """Between 1 and ``max_shift_days`` days back, fixed per patient."""
        value = int.from_bytes(_keyed(self.secret, "date:" + patient_id)[:4], "big")
        return dt.timedelta(days=1 + value % self.max_shift_days)

    def uid(self, original: str) -> str:
        """A new UID under the 2.25 (UUID-derived) root, the same for the same input."""
        return "2.25." + str(int.from_bytes(_keyed(self.secret, "uid:" + original)[:16], "big"))

    # -- the walk over the data set -------------------------------------------------

    def _shift_date(self, value: str, shift: dt.timedelta) -> str:
        text = str(value).strip()
        if len(text) < 8 or not text[:8].isdigit():
            return ""  # a date we cannot parse is removed rather than kept
        day = dt.datetime.strptime(text[:8], "%Y%m%d").date() - shift
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
            if element.VR == "SQ":
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

    def deidentify(
        self, ds: Dataset, *, pixels_cleaned: bool = False, name: str = "dataset"
    ) -> Dataset:
        """A de-identified copy of ``ds`` (the input is not changed). Raises
        :class:`DeidentificationError` for Burned In Annotation = YES unless
        ``pixels_cleaned``."""
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and not pixels_cleaned:
            raise DeidentificationError(
                f"{name}: Burned In Annotation is YES, so the pixels may show identifiers; "
                "clean or crop them first and pass pixels_cleaned=True"
            )
        out = ds.copy()
        if hasattr(ds, "file_meta"):
            out.file_meta = ds.file_meta.copy()
        patient_id = str(ds.get("PatientID", "")) or str(ds.get("PatientName", "")) or "unknown"
        shift = self.date_shift(patient_id)
        self._walk(out, shift)
        out.PatientName = self.pseudonym(patient_id)
        out.PatientID = self.pseudonym(patient_id)
        out.PatientIdentityRemoved = "YES"
        out.DeidentificationMethod = METHOD
        codes = []
        for value, meaning in METHOD_CODES:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            codes.append(item)
        out.DeidentificationMethodCodeSequence = Sequence(codes)
        if "BurnedInAnnotation" in out and pixels_cleaned:
            out.BurnedInAnnotation = "NO"
        if hasattr(out, "file_meta"):
            # The file meta header repeats the instance UID: keep it equal to the new one.
            if "SOPInstanceUID" in out:
                out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
            elif "MediaStorageSOPInstanceUID" in out.file_meta:
                out.file_meta.MediaStorageSOPInstanceUID = self.uid(
                    str(out.file_meta.MediaStorageSOPInstanceUID)
                )
            if "SOPClassUID" in out and "MediaStorageSOPClassUID" not in out.file_meta:
                out.file_meta.MediaStorageSOPClassUID = out.SOPClassUID
        return out

    def deidentify_file(
        self, source: str | Path, target: str | Path, *, pixels_cleaned: bool = False
    ) -> Path:
        """Read ``source``, de-identify, write ``target`` atomically (nothing is left
        behind if anything fails). Raises :class:`DeidentificationError` naming the file."""
        source, target = Path(source), Path(target)
        ds = read_dataset(source)
        clean = self.deidentify(ds, pixels_cleaned=pixels_cleaned, name=str(source))
        meta = getattr(clean, "file_meta", Dataset())
        complete = all(
            meta.get(k)
            for k in ("TransferSyntaxUID", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID")
        )
        with atomic.staged_file(target) as staging:
            clean.save_as(staging, enforce_file_format=complete)
        return target


def read_dataset(path: str | Path) -> Dataset:
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
    or replaces, person names, dates, instance UIDs, and private text; minus any string
    that also appears in a non-identifying attribute (a private tag repeating the
    manufacturer's name is not PHI). What must not survive de-identification; used by the
    tests."""
    keywords = set(REMOVE) | set(EMPTY) | {"PatientName", "PatientID"}
    text_vrs = {"LO", "SH", "LT", "ST", "UT", "PN", "CS", "AE"}
    sensitive: set[str] = set()
    public: set[str] = set()

    def strings(element) -> set[str]:
        values = element.value if element.VM > 1 else [element.value]
        out = set()
        for value in values:
            for text in {str(value), *str(value).split("^")}:
                if len(text.strip()) >= min_length:
                    out.add(text.strip())
        return out

    def walk(d: Dataset) -> None:
        for element in d:
            if element.VR == "SQ":
                for item in element.value:
                    walk(item)
                continue
            if element.value in (None, "") or element.VR in ("OB", "OW", "OF", "OD", "UN"):
                continue
            private_text = (
                element.tag.is_private
                and element.VR in text_vrs
                and any(ch.isalpha() for ch in str(element.value))
            )
            if (
                element.keyword in keywords
                or element.VR in ("PN", "DA", "DT")
                or private_text
                or (element.VR == "UI" and not str(element.value).startswith("1.2.840.10008."))
            ):
                sensitive.update(strings(element))
            elif not element.tag.is_private:
                public.update(strings(element))

    walk(ds)
    return {text for text in sensitive if not any(text in other for other in public)}
