"""Builders of test instances: a valid CR/DX image, and PHI planted with unique marker tokens in
every place Table E.1-1 covers."""

from __future__ import annotations

import io
from collections.abc import Iterator

from pydicom import dcmwrite
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from deid.header.iod import CR_IMAGE, DX_FOR_PRESENTATION
from deid.header.table import ProfileRow, load_table

SECRET = b"test-site-secret-0123456789abcdef"
OTHER_SECRET = b"another-site-secret-fedcba9876543"

#: A UID root no real device uses: every planted instance UID is under it.
PLANTED_UID_ROOT = "1.2.826.0.1.3680043.10.9999."
TOKEN = "PHIX"  # prefix of every planted text token


def token(i: int) -> str:
    return f"{TOKEN}{i:04d}"


def planted_uid(i: int) -> str:
    return f"{PLANTED_UID_ROOT}{i}"


def make_image(
    sop_class: str = CR_IMAGE,
    *,
    patient_id: str = "PID-7731",
    patient_name: str = "Doe^Jane",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> Dataset:
    """A small but complete CR (or DX For Presentation) instance with file meta; the patient
    data in it are the arguments, everything else is harmless."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or planted_uid(900001)
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.ContentDate = "20240315"
    ds.ContentTime = "101600"
    ds.AccessionNumber = "ACC-55812"
    ds.Manufacturer = "ACME Imaging"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StationName = "XR-ROOM-3"
    ds.StudyDescription = "CHEST PA AND LATERAL"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19610704"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "CHEST"
    ds.StudyInstanceUID = study_uid or planted_uid(900002)
    ds.SeriesInstanceUID = series_uid or planted_uid(900003)
    ds.StudyID = "S-1234"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ["A", "F"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(8 * 8 * 2)
    if sop_class == CR_IMAGE:
        ds.Modality = "CR"
        ds.ViewPosition = "PA"
    elif sop_class != DX_FOR_PRESENTATION:
        ds.Modality = "OT"
    else:
        ds.Modality = "DX"
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = "U"
        ds.AnatomicRegionSequence = Sequence([_code("51185008", "SCT", "Chest")])
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PixelIntensityRelationship = "LIN"
        ds.PixelIntensityRelationshipSign = 1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "IDENTITY"
        ds.LossyImageCompression = "00"
        ds.BurnedInAnnotation = "NO"
        ds.DetectorType = "SCINTILLATOR"
        ds.ImagerPixelSpacing = ["0.1", "0.1"]
        ds.WindowCenter = "2048"
        ds.WindowWidth = "4096"
        context = Dataset()
        context.ValueType = "CODE"
        context.ConceptNameCodeSequence = Sequence([_code("121713", "DCM", "Patient Position")])
        context.ConceptCodeSequence = Sequence([_code("10904000", "SCT", "Orthostatic body position")])
        ds.AcquisitionContextSequence = Sequence([context])
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        ref.ReferencedSOPInstanceUID = planted_uid(900004)
        ds.ReferencedPerformedProcedureStepSequence = Sequence([ref])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(planted_uid(900005))
    meta.SourceApplicationEntityTitle = "PHIXSRCAE"
    ds.file_meta = meta
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def value_for(vr: str, i: int) -> object:
    """A valid value of `vr` carrying marker `i` where the VR can carry one."""
    if vr in ("LO", "SH", "ST", "LT", "UT", "UC", "CS"):
        return token(i)
    if vr == "PN":
        return f"{token(i)}^Given"
    if vr == "AE":
        return f"{token(i)}AE"
    if vr == "DA":
        return f"1953{1 + i % 12:02d}{1 + i % 28:02d}"
    if vr == "DT":
        return f"1953{1 + i % 12:02d}{1 + i % 28:02d}101112.{i:06d}"
    if vr == "TM":
        return f"1011{i % 60:02d}.{i:06d}"
    if vr == "UI":
        return planted_uid(i)
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = f"{token(i)} meaning"  # not in the table: kept unless D/C sequence
        item.PatientName = f"{token(i)}^Nested"
        item.add_new(0x0040A123, "PN", f"{token(i)}^Person")  # Person Name (D)
        return Sequence([item])
    if vr == "DS":
        return "987.25"
    if vr == "IS":
        return "4242"
    if vr == "AS":
        return "047Y"
    if vr == "UR":
        return f"http://{token(i).lower()}.example/"
    if vr in ("OB", "UN"):
        return f"{token(i)}BIN!".encode("ascii")
    if vr in ("US", "SS", "UL", "SL"):
        return 7
    if vr in ("FL", "FD"):
        return 7.5
    raise ValueError(vr)


def exact_rows() -> Iterator[tuple[int, ProfileRow, str]]:
    """(tag, row, VR) of every row naming one data-set attribute (no file meta, no command)."""
    for row in load_table():
        tag = row.exact_tag
        if tag is None or tag >> 16 in (0x0000, 0x0002):
            continue
        yield tag, row, dictionary_VR(tag)


def plant_every_row(ds: Dataset) -> dict[int, object]:
    """Put every exact-tag row's attribute at the top level of `ds` (patient identifiers already
    in `ds` are kept); returns tag -> planted value."""
    planted = {}
    for tag, row, vr in exact_rows():
        if tag in (0x00100010, 0x00100020):
            continue
        value = value_for(vr, int(row.row_id, 16) % 10000)
        ds.add_new(tag, vr, value)
        planted[tag] = value
    return planted


def plant_private(ds: Dataset, i: int) -> None:
    """A private block with a name, a date and a UID, and an allow-listed element."""
    ds.add_new(0x00090010, "LO", "PHIX VENDOR")
    ds.add_new(0x00091001, "LO", token(i))
    ds.add_new(0x00091002, "DA", "19530303")
    ds.add_new(0x00091003, "UI", planted_uid(i))
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100C, "IS", "1000")  # B_value: allow-listed


def plant_overlay_and_curve(ds: Dataset, i: int) -> None:
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000022, "LO", token(i))  # Overlay Description
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60001500, "LO", token(i + 1))  # Overlay Label
    ds.add_new(0x60003000, "OW", f"{token(i + 2)}OVL".encode("ascii"))
    ds.add_new(0x60024000, "LT", token(i + 3))  # Overlay Comments of a second overlay
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50002500, "LO", token(i + 4))  # Curve Label
    ds.add_new(0x50003000, "OB", f"{token(i + 5)}CRV".encode("ascii"))


def nested_phi(i: int, depth: int) -> Dataset:
    """An item `depth` levels deep in kept (unlisted) sequences, each level carrying PHI."""
    item = Dataset()
    item.CodeValue = "51185008"
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = "Chest"
    item.PatientName = f"{token(i)}^Deep"
    item.PatientID = token(i + 1)
    item.InstitutionName = token(i + 2)
    item.ReferencedSOPInstanceUID = planted_uid(i)
    item.add_new(0x00189151, "DT", "19530404101112")  # Frame Reference DateTime (unlisted DT)
    item.add_new(0x00080022, "DA", "19530405")  # Acquisition Date
    plant_private(item, i + 3)
    if depth > 1:
        item.AnatomicRegionModifierSequence = Sequence([nested_phi(i + 10, depth - 1)])
    return item


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def dx_image(**kwargs: object) -> Dataset:
    return make_image(DX_FOR_PRESENTATION, **kwargs)  # type: ignore[arg-type]
