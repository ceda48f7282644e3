"""The phantom as a CR or DX DICOM dataset with realistic headers (make_phantom)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from training.findings import FindingDetails, StudyFindings, sample_details, sample_findings
from training.phantoms.base import (
    _NAMESPACE,
    BITS_STORED,
    CR_IMAGE_STORAGE,
    DX_IMAGE_STORAGE_FOR_PRESENTATION,
    MODALITIES,
    PHANTOM_FIELD_MM,
    PHOTOMETRICS,
    SIZES,
    PhantomError,
)
from training.phantoms.radiograph import render_radiograph
from training.reports import Report, write_report

_FAMILY = (
    "SMITH", "JOHNSON", "GARCIA", "MILLER", "DAVIS", "MARTINEZ", "LOPEZ", "WILSON", "ANDERSON",
    "THOMAS", "MOORE", "JACKSON", "MARTIN", "LEE", "THOMPSON", "WHITE", "HARRIS", "CLARK",
    "LEWIS", "WALKER", "HALL", "YOUNG", "KING", "WRIGHT", "SCOTT", "GREEN", "BAKER", "ADAMS",
    "NELSON", "HILL", "CAMPBELL", "MITCHELL", "ROBERTS", "CARTER", "PHILLIPS", "EVANS",
)  # fmt: skip
_GIVEN = {
    "F": ("MARY", "LINDA", "SUSAN", "KAREN", "NANCY", "LISA", "ANNA", "EMMA", "OLIVIA", "SOFIA",
          "GRACE", "CHLOE", "HANNAH", "JUDITH", "RUTH", "ELENA"),
    "M": ("JAMES", "JOHN", "ROBERT", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "DANIEL",
          "PAUL", "MARK", "GEORGE", "LUCAS", "HENRY", "SAMUEL", "PETER"),
}  # fmt: skip
_INSTITUTIONS = (
    "Riverside General Hospital",
    "St. Aldric Medical Center",
    "Northfield University Hospital",
    "Lakeshore Community Hospital",
)
_PHYSICIANS = ("HOUSE^GREGORY", "GREY^MEREDITH", "ROSS^DOUGLAS", "QUINN^MICHAELA", "KILDARE^JAMES")
# Fictional vendors: the files must not pass for a real manufacturer's output.
_EQUIPMENT = {
    "CR": (("Phantom Imaging Systems", "PhantomCR 35"), ("Nordlicht Medical", "NL-CR Reader 2")),
    "DX": (("Phantom Imaging Systems", "PhantomDR 4343"), ("Meridian Radiography", "MR-DX Flat 43")),
}


@dataclass(frozen=True)
class Phantom:
    """One synthetic study: its ground truth, its report and its DICOM dataset."""

    seed: int
    findings: StudyFindings
    details: FindingDetails
    report: Report
    dataset: FileDataset

    def to_bytes(self) -> bytes:
        """The DICOM Part 10 file, exactly as write_phantom_set writes it."""
        buf = DicomBytesIO()
        self.dataset.save_as(buf, enforce_file_format=True)
        return buf.getvalue()


def _uid(kind: str, seed: int) -> UID:
    return generate_uid(entropy_srcs=[f"securemed-phantom|{kind}|{seed}"])


def _streams(seed: int, n: int) -> list[np.random.Generator]:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise PhantomError(f"seed must be a non-negative int, got {seed!r}")
    children = np.random.SeedSequence([_NAMESPACE, int(seed)]).spawn(n)
    return [np.random.Generator(np.random.PCG64(c)) for c in children]


def _stored_pixels(img: np.ndarray, bits: int, photometric: str) -> np.ndarray:
    top = (1 << bits) - 1
    values = np.rint(img * top).astype(np.uint16)
    if photometric == "MONOCHROME1":
        values = np.uint16(top) - values  # high stored value = dark
    return values


def _window(img: np.ndarray, bits: int, photometric: str) -> tuple[float, float]:
    """Window centre and width (stored values) spanning the body, from the darkest lung to
    bone, ignoring the air around the patient."""
    sample = img[::4, ::4]
    body = sample[sample > 0.12]
    if body.size < 16:
        body = sample.ravel()
    lo, hi = np.percentile(body, [1.0, 99.5])
    top = (1 << bits) - 1
    center = (lo + hi) / 2.0 * top
    if photometric == "MONOCHROME1":
        center = top - center
    return float(center), max(float(hi - lo) * 1.05 * top, 2.0)


def _ds_value(v: float) -> str:
    return f"{v:.6g}"


def make_phantom(
    seed: int,
    *,
    modality: str | None = None,
    photometric: str | None = None,
    bits_stored: int | None = None,
    rows: int | None = None,
    cols: int | None = None,
) -> Phantom:
    """Build the phantom of `seed` (a non-negative int).

    Unset options are drawn from the seed: CR or DX, MONOCHROME1 or MONOCHROME2, 12..16 bits
    stored and, when neither rows nor cols is given, one of SIZES (one given: a square image).
    The findings, report and picture depend only on the seed and the size, so phantoms that
    differ only in encoding show the same picture. Raises PhantomError on invalid options.
    """
    s_find, s_det, s_rep, s_img, s_hdr = _streams(seed, 5)
    f = sample_findings(s_find)
    details = sample_details(f, s_det)
    report = write_report(f, s_rep, details=details)

    h = s_hdr.random(24)

    def pick(options: tuple[Any, ...], i: int) -> Any:
        return options[int(h[i] * len(options))]

    modality = modality or pick(MODALITIES, 0)
    photometric = photometric or pick(PHOTOMETRICS, 1)
    bits = bits_stored if bits_stored is not None else pick(BITS_STORED, 2)
    size = pick(SIZES, 3)
    if rows is None and cols is None:
        rows, cols = size
    elif rows is None or cols is None:  # one given: a square image
        rows = cols = rows if rows is not None else cols
    assert rows is not None and cols is not None
    rows, cols = int(rows), int(cols)
    if modality not in MODALITIES:
        raise PhantomError(f"modality must be one of {MODALITIES}")
    if photometric not in PHOTOMETRICS:
        raise PhantomError(f"photometric must be one of {PHOTOMETRICS}")
    if not 12 <= int(bits) <= 16:
        raise PhantomError("bits_stored must be in 12..16")
    bits = int(bits)

    img = render_radiograph(f, s_img, (rows, cols), details=details)
    pixels = _stored_pixels(img, bits, photometric)

    sop_class = CR_IMAGE_STORAGE if modality == "CR" else DX_IMAGE_STORAGE_FOR_PRESENTATION
    sop_uid = _uid("sop", seed)
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("implementation", 0)
    meta.ImplementationVersionName = "SECUREMED_PH1"

    ds = FileDataset("", pydicom.Dataset(), file_meta=meta, preamble=b"\x00" * 128)
    sex = pick(("F", "M"), 4)
    age = 18 + int(h[5] * 73)
    study_day = np.datetime64("2023-01-01") + int(h[6] * 1000)
    birth = study_day - np.timedelta64(int(age * 365.25 + h[7] * 360), "D")
    hour, minute, second = 7 + int(h[8] * 14), int(h[9] * 60), int(h[10] * 60)
    study_date = str(study_day).replace("-", "")
    study_time = f"{hour:02d}{minute:02d}{second:02d}"
    acq_time = f"{hour:02d}{min(minute + 2, 59):02d}{second:02d}"
    accession = f"A{int(_uid('accession', seed).rsplit('.', 1)[1]) % 10**12:012d}"
    patient_id = f"PH{int(_uid('patient', seed).rsplit('.', 1)[1]) % 10**10:010d}"
    spacing = PHANTOM_FIELD_MM / min(rows, cols)
    manufacturer, model = pick(_EQUIPMENT[modality], 11)
    icu = bool(f.devices & {"tube", "line"})
    view = "AP" if (icu and h[12] < 0.7) or h[12] < 0.08 else "PA"

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = study_date
    ds.InstanceCreationTime = acq_time
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = acq_time
    ds.AccessionNumber = accession
    ds.Modality = modality
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = pick(_INSTITUTIONS, 13)
    ds.ReferringPhysicianName = pick(_PHYSICIANS, 14)
    ds.StationName = f"XR{1 + int(h[15] * 6):02d}"
    ds.StudyDescription = f"XR CHEST 1 VIEW {view}"
    ds.SeriesDescription = f"CHEST {view}"
    ds.ManufacturerModelName = model
    ds.PatientName = f"{pick(_FAMILY, 16)}^{pick(_GIVEN[sex], 17)}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = str(birth).replace("-", "")
    ds.PatientSex = sex
    ds.PatientAge = f"{age:03d}Y"
    ds.BodyPartExamined = "CHEST"
    ds.KVP = _ds_value(110 + int(h[18] * 16)) if view == "PA" else _ds_value(90 + int(h[18] * 10))
    ds.DistanceSourceToDetector = "1800" if view == "PA" else "1000"
    ds.ExposureTime = str(4 + int(h[19] * 12))
    ds.Exposure = str(2 + int(h[20] * 4))
    ds.SoftwareVersions = "1.4.2"
    ds.ViewPosition = view
    ds.StudyInstanceUID = _uid("study", seed)
    ds.SeriesInstanceUID = _uid("series", seed)
    ds.StudyID = accession[-8:]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]  # rows run to the patient's left, columns to the feet
    ds.ImageComments = "SYNTHETIC PHANTOM - NOT A PATIENT"
    if modality == "DX":
        ds.ImageLaterality = "U"
        code = _code_item("51185008", "SCT", "Chest")
        ds.AnatomicRegionSequence = Sequence([code])
        ds.DetectorType = "SCINTILLATOR"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = [_ds_value(spacing), _ds_value(spacing)]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    if modality == "DX":
        # Higher stored value = less beam intensity (denser) on MONOCHROME2, and the reverse.
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = -1 if photometric == "MONOCHROME2" else 1
        ds.PresentationLUTShape = "IDENTITY" if photometric == "MONOCHROME2" else "INVERSE"
    center, width = _window(img, bits, photometric)
    ds.WindowCenter = _ds_value(center)
    ds.WindowWidth = _ds_value(width)
    ds.VOILUTFunction = "LINEAR"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    return Phantom(seed=seed, findings=f, details=details, report=report, dataset=ds)


def _code_item(value: str, scheme: str, meaning: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item
