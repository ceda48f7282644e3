"""Top-level attribute types (1, 1C, 2, 2C) of the IODs the appliance receives.

Only used to resolve the IOD-dependent actions of Table E.1-1 (Z/D, X/Z, X/D, X/Z/D, X/Z/U*) and to
check that a de-identified instance still carries its Type 1/2 attributes. An attribute absent
from an IOD's table is Type 3 there (or not part of the IOD).

Source: hand-curated from DICOM PS3.3 2024b, IOD module tables A.2-1 (CR), A.26-1 (DX), A.8-1
(SC), A.3-1 (CT), A.4-1 (MR) and the mandatory modules they use: Patient C.7.1.1, General Study
C.7.2.1, General Series C.7.3.1, CR Series C.8.1.1, DX Series C.8.11.1, DX Anatomy Imaged
C.8.11.2, DX Image C.8.11.3, DX Detector C.8.11.4, Acquisition Context C.7.6.14, Frame of Reference
C.7.4.1, General Equipment C.7.5.1, SC Equipment C.8.6.1, General Image C.7.6.1, Image Plane
C.7.6.2, Image Pixel C.7.6.3, CR Image C.8.1.2, CT Image C.8.2.1, MR Image C.8.3.1, Contrast/Bolus
C.7.6.4, SOP Common C.12.1. The unconditional Type 1/2 sets are cross-checked against dicom3tools'
dciodvfy (which compiles the same module tables) by tests/deid/test_iod.py.
Conditional types (1C/2C) are listed where an E.1-1 variant row depends on them; a conditional
attribute that is present is treated as required (its condition may hold), the choice that keeps
the instance valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydicom.datadict import tag_for_keyword

#: SOP Class UIDs (PS3.4 B.5).
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

REQUIRED_TYPES = frozenset({"1", "1C", "2", "2C"})


@dataclass(frozen=True)
class IodTypes:
    """The top-level types of one IOD: tag -> "1" | "1C" | "2" | "2C" (absent = Type 3)."""

    name: str
    types: Mapping[int, str]

    def type_of(self, tag: int) -> str:
        return self.types.get(tag, "3")

    def required(self, *, conditional: bool = False) -> dict[int, str]:
        """Type 1 and 2 attributes (plus 1C/2C if `conditional`)."""
        wanted = {"1", "2"} | ({"1C", "2C"} if conditional else set())
        return {tag: t for tag, t in self.types.items() if t in wanted}


def _t(**types: str) -> dict[int, str]:
    out = {}
    for keyword, typ in types.items():
        tag = tag_for_keyword(keyword)
        if tag is None:  # a typo here must fail at import, not silently become Type 3
            raise KeyError(keyword)
        out[tag] = typ
    return out


_PATIENT = _t(
    PatientName="2",
    PatientID="2",
    PatientBirthDate="2",
    PatientSex="2",
    PatientSexNeutered="2C",
    PatientSpeciesDescription="1C",
    PatientSpeciesCodeSequence="1C",
    PatientBreedDescription="2C",
    PatientBreedCodeSequence="2C",
    BreedRegistrationSequence="2C",
    ResponsiblePerson="2C",
    ResponsibleOrganization="2C",
    DeidentificationMethod="1C",
    DeidentificationMethodCodeSequence="1C",
)
_GENERAL_STUDY = _t(
    StudyInstanceUID="1",
    StudyDate="2",
    StudyTime="2",
    ReferringPhysicianName="2",
    StudyID="2",
    AccessionNumber="2",
)
_GENERAL_SERIES = _t(Modality="1", SeriesInstanceUID="1", SeriesNumber="2", Laterality="2C")
_PATIENT_POSITION = _t(PatientPosition="2C")  # General Series, required for CT and MR
_CR_SERIES = _t(BodyPartExamined="2", ViewPosition="2")
_DX_SERIES = _t(Modality="1", ReferencedPerformedProcedureStepSequence="1C", PresentationIntentType="1")
_GENERAL_EQUIPMENT = _t(Manufacturer="2", PixelPaddingValue="1C")
_SC_EQUIPMENT = _t(ConversionType="1")
_FRAME_OF_REFERENCE = _t(FrameOfReferenceUID="1", PositionReferenceIndicator="2")
_GENERAL_IMAGE = _t(InstanceNumber="2", PatientOrientation="2C", ContentDate="2C", ContentTime="2C")
_IMAGE_PLANE = _t(PixelSpacing="1", ImageOrientationPatient="1", ImagePositionPatient="1", SliceThickness="2")
_IMAGE_PIXEL = _t(
    SamplesPerPixel="1",
    PhotometricInterpretation="1",
    Rows="1",
    Columns="1",
    BitsAllocated="1",
    BitsStored="1",
    HighBit="1",
    PixelRepresentation="1",
    PixelData="1C",
    PlanarConfiguration="1C",
    PixelAspectRatio="1C",
)
_CONTRAST_BOLUS = _t(ContrastBolusAgent="2C")  # Type 2 whenever the (C/U) module is present
_SOP_COMMON = _t(SOPClassUID="1", SOPInstanceUID="1", SpecificCharacterSet="1C")
_CR_IMAGE = _t(PhotometricInterpretation="1")
_DX_ANATOMY = _t(ImageLaterality="1", AnatomicRegionSequence="2")
_DX_IMAGE = _t(
    ImageType="1",
    SamplesPerPixel="1",
    PhotometricInterpretation="1",
    BitsAllocated="1",
    BitsStored="1",
    HighBit="1",
    PixelRepresentation="1",
    PixelIntensityRelationship="1",
    PixelIntensityRelationshipSign="1",
    RescaleIntercept="1",
    RescaleSlope="1",
    RescaleType="1",
    PresentationLUTShape="1",
    LossyImageCompression="1",
    LossyImageCompressionRatio="1C",
    PatientOrientation="1C",
    BurnedInAnnotation="1",
)
_DX_DETECTOR = _t(DetectorType="2", ImagerPixelSpacing="1")
_ACQUISITION_CONTEXT = _t(AcquisitionContextSequence="2")
_CT_IMAGE = _t(
    ImageType="1",
    SamplesPerPixel="1",
    PhotometricInterpretation="1",
    BitsAllocated="1",
    BitsStored="1",
    HighBit="1",
    RescaleIntercept="1",
    RescaleSlope="1",
    RescaleType="1C",
    KVP="2",
    AcquisitionNumber="2",
)
_MR_IMAGE = _t(
    ImageType="1",
    SamplesPerPixel="1",
    PhotometricInterpretation="1",
    BitsAllocated="1",
    ScanningSequence="1",
    SequenceVariant="1",
    ScanOptions="2",
    MRAcquisitionType="2",
    RepetitionTime="2C",
    EchoTime="2",
    EchoTrainLength="2",
    InversionTime="2C",
    TriggerTime="2C",
)


def _iod(name: str, *modules: dict[int, str], type3: tuple[str, ...] = ()) -> IodTypes:
    merged: dict[int, str] = {}
    for module in modules:
        for tag, typ in module.items():
            # A module that makes an attribute stricter wins (e.g. DX Image's Type 1 Patient
            # Orientation over General Image's 2C).
            if tag not in merged or _strength(typ) > _strength(merged[tag]):
                merged[tag] = typ
    for keyword in type3:  # a module that relaxes an attribute, e.g. SC Equipment's Modality
        del merged[_t(**{keyword: "3"}).popitem()[0]]
    return IodTypes(name=name, types=MappingProxyType(merged))


def _strength(typ: str) -> int:
    return {"1": 4, "1C": 3, "2": 2, "2C": 1}[typ]


_COMMON = (_PATIENT, _GENERAL_STUDY, _GENERAL_SERIES, _GENERAL_IMAGE, _IMAGE_PIXEL, _CONTRAST_BOLUS, _SOP_COMMON)
_DX = _iod(
    "Digital X-Ray Image",
    *_COMMON,
    _DX_SERIES,
    _GENERAL_EQUIPMENT,
    _DX_ANATOMY,
    _DX_IMAGE,
    _DX_DETECTOR,
    _ACQUISITION_CONTEXT,
)

#: Generic fallback for image SOP Classes without a curated table: the modules every image IOD of
#: PS3.3 shares.
GENERIC_IMAGE = _iod("Generic image (fallback)", *_COMMON, _GENERAL_EQUIPMENT)

#: SOP Class UID -> types. The DX table is the same for both presentation intents.
DEFAULT_IOD_TYPES: Mapping[str, IodTypes] = MappingProxyType(
    {
        CR_IMAGE: _iod("Computed Radiography Image", *_COMMON, _CR_SERIES, _GENERAL_EQUIPMENT, _CR_IMAGE),
        DX_FOR_PRESENTATION: IodTypes("Digital X-Ray Image (For Presentation)", _DX.types),
        DX_FOR_PROCESSING: IodTypes("Digital X-Ray Image (For Processing)", _DX.types),
        # SC Equipment makes Modality Type 3, overriding General Series (PS3.3 C.8.6.1).
        SC_IMAGE: _iod("Secondary Capture Image", *_COMMON, _SC_EQUIPMENT, type3=("Modality",)),
        CT_IMAGE: _iod(
            "CT Image",
            *_COMMON,
            _PATIENT_POSITION,
            _FRAME_OF_REFERENCE,
            _GENERAL_EQUIPMENT,
            _IMAGE_PLANE,
            _CT_IMAGE,
        ),
        MR_IMAGE: _iod(
            "MR Image",
            *_COMMON,
            _PATIENT_POSITION,
            _FRAME_OF_REFERENCE,
            _GENERAL_EQUIPMENT,
            _IMAGE_PLANE,
            _MR_IMAGE,
        ),
    }
)


def iod_for(sop_class_uid: str | None, table: Mapping[str, IodTypes] = DEFAULT_IOD_TYPES) -> IodTypes | None:
    """The curated types of `sop_class_uid`, or None when the table has none."""
    if not sop_class_uid:
        return None
    return table.get(str(sop_class_uid).strip())
