"""The header engine end to end: planted PHI, UID and date consistency, IOD validity, safety."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr._concepts_dict import concepts
from pydicom.uid import JPEG2000Lossless

from deid import (
    DEFAULT_IOD_TYPES,
    IMPLEMENTATION_CLASS_UID,
    METHOD_CODES,
    DeidConfigError,
    Deidentifier,
    DeidError,
    DeidOptions,
    SafePrivateTag,
    UnsafeToDeidentify,
    mark_option_applied,
)
from deid.header.iod import CR_IMAGE, CT_IMAGE, DX_FOR_PRESENTATION, SC_IMAGE
from deid.testing import (
    OTHER_SECRET,
    PLANTED_UID_ROOT,
    SECRET,
    TOKEN,
    dx_image,
    make_image,
    nested_phi,
    plant_every_row,
    plant_overlay_and_curve,
    plant_private,
    planted_uid,
    to_bytes,
    token,
)

BASIC = DeidOptions()


def deid(ds: Dataset, options: DeidOptions = BASIC, secret: bytes = SECRET, **kwargs: object):
    return Deidentifier(options, secret, **kwargs).deidentify(ds)  # type: ignore[arg-type]


def phi_everywhere() -> Dataset:
    """A CR instance with PHI in every place the table covers: every listed attribute at the top
    level, free text, a private block, overlays and curves, file meta, and PHI three sequence
    levels deep in kept sequences and two levels deep in a dummied Content Sequence."""
    ds = make_image()
    plant_every_row(ds)
    plant_private(ds, 8000)
    plant_overlay_and_curve(ds, 8100)
    ds.AnatomicRegionSequence = Sequence([nested_phi(8200, 3)])
    content = Dataset()
    content.ValueType = "TEXT"
    content.TextValue = f"{token(8300)} lives at 12 Main St"
    content.ContentSequence = Sequence([nested_phi(8310, 2)])
    ds.ContentSequence = Sequence([content])
    ds.file_meta.add_new(0x00020100, "UI", planted_uid(8400))  # Private Information Creator UID
    ds.file_meta.add_new(0x00020102, "OB", f"{token(8401)}PRIVINFO".encode())
    ds.file_meta.add_new(0x00020017, "AE", f"{token(8402)}SND")  # Sending AE Title
    return ds


ORIGINAL_STRINGS = [
    b"Doe",
    b"Jane",
    b"PID-7731",
    b"ACC-55812",
    b"Elsewhere",
    b"XR-ROOM-3",
    b"House",
    b"19610704",
    b"20240315",
]


def test_no_planted_token_survives_anywhere_in_the_output_bytes() -> None:
    ds = phi_everywhere()
    out = to_bytes(deid(ds).dataset)
    for needle in [TOKEN.encode(), PLANTED_UID_ROOT.encode(), b"1953", *ORIGINAL_STRINGS]:
        hits = [m.start() for m in re.finditer(re.escape(needle), out)]
        assert not hits, f"{needle!r} survived at {hits[:5]}: {out[max(0, hits[0] - 40) : hits[0] + 40]!r}"


def test_the_planted_input_really_carries_the_tokens() -> None:
    raw = to_bytes(phi_everywhere())
    for needle in [TOKEN.encode(), PLANTED_UID_ROOT.encode(), b"1953", b"Doe", b"PID-7731"]:
        assert needle in raw, needle
    assert raw.count(TOKEN.encode()) > 500


def test_the_input_is_not_mutated() -> None:
    ds = phi_everywhere()
    before = to_bytes(ds)
    snapshot = copy.deepcopy(ds)
    deid(ds, DeidOptions(retain_long_modified_dates=True, retain_safe_private=True))
    assert to_bytes(ds) == before
    assert ds == snapshot


def test_output_is_a_valid_part10_file_with_rebuilt_meta_and_zero_preamble() -> None:
    ds = make_image()
    result = deid(ds)
    raw = to_bytes(result.dataset)
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM"
    back = dcmread(__import__("io").BytesIO(raw))
    meta = back.file_meta
    assert meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID != ds.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == CR_IMAGE
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert "SourceApplicationEntityTitle" not in meta


def test_uids_are_consistent_within_a_study_and_across_deidentifiers_and_differ_with_another_secret() -> None:
    study, series = planted_uid(1), planted_uid(2)
    a = make_image(study_uid=study, series_uid=series, sop_uid=planted_uid(3))
    b = make_image(study_uid=study, series_uid=series, sop_uid=planted_uid(4))
    item = Dataset()
    item.ReferencedSOPClassUID = CR_IMAGE
    item.ReferencedSOPInstanceUID = planted_uid(3)  # b refers to a
    b.AnatomicRegionSequence = Sequence([item])
    ra, rb = deid(a).dataset, deid(b).dataset
    assert ra.StudyInstanceUID == rb.StudyInstanceUID != study
    assert ra.SeriesInstanceUID == rb.SeriesInstanceUID != series
    assert ra.SOPInstanceUID != rb.SOPInstanceUID
    assert rb.AnatomicRegionSequence[0].ReferencedSOPInstanceUID == ra.SOPInstanceUID
    assert rb.AnatomicRegionSequence[0].ReferencedSOPClassUID == CR_IMAGE  # well-known: kept
    again = Deidentifier(BASIC, SECRET).deidentify(a).dataset  # a second instance, same secret
    assert again.SOPInstanceUID == ra.SOPInstanceUID and again.StudyInstanceUID == ra.StudyInstanceUID
    other = deid(a, secret=OTHER_SECRET).dataset
    assert other.StudyInstanceUID != ra.StudyInstanceUID and other.SOPInstanceUID != ra.SOPInstanceUID
    for uid in (ra.StudyInstanceUID, ra.SeriesInstanceUID, ra.SOPInstanceUID):
        assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", uid) and len(uid) <= 64


def test_well_known_uids_are_never_remapped() -> None:
    ds = make_image()
    ds.FrameOfReferenceUID = "1.2.840.10008.1.4.1.1"  # Talairach: a U row holding a well-known UID
    code = Dataset()
    code.CodingSchemeUID = "2.16.840.1.113883.6.96"  # SNOMED CT, in the UID dictionary
    code.CodeValue = "51185008"
    ds.AnatomicRegionSequence = Sequence([code])
    out = deid(ds).dataset
    assert out.SOPClassUID == CR_IMAGE
    assert out.FrameOfReferenceUID == "1.2.840.10008.1.4.1.1"
    assert out.AnatomicRegionSequence[0].CodingSchemeUID == "2.16.840.1.113883.6.96"


def _date(s: str) -> dt.date:
    return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def test_dates_are_shifted_consistently_per_patient_with_times_kept() -> None:
    options = DeidOptions(retain_long_modified_dates=True)
    a, b = make_image(sop_uid=planted_uid(10)), make_image(sop_uid=planted_uid(11))
    b.StudyDate, b.ContentDate = "20240229", "20240301"
    for ds in (a, b):
        ds.AcquisitionDateTime = "20240315101700.123+0100"
        ds.AnatomicRegionSequence = Sequence([nested_phi(1, 1)])  # nested unlisted DT + listed DA
    ra, rb = deid(a, options), deid(b, options)
    shift = ra.record.date_shift_days
    assert shift == rb.record.date_shift_days and -365 <= shift <= -1
    for result, ds in ((ra, a), (rb, b)):
        out = result.dataset
        assert (_date(out.StudyDate) - _date(ds.StudyDate)).days == shift
        assert (_date(out.ContentDate) - _date(ds.ContentDate)).days == shift
        assert out.StudyTime == ds.StudyTime and out.ContentTime == ds.ContentTime
        assert out.AcquisitionDateTime[8:] == "101700.123+0100"
        assert (_date(out.AcquisitionDateTime) - _date("20240315")).days == shift
        nested = out.AnatomicRegionSequence[0]
        assert (_date(nested.FrameReferenceDateTime) - _date("19530404")).days == shift
        assert (_date(nested.AcquisitionDate) - _date("19530405")).days == shift
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
        assert out.PatientBirthDate == ""  # no option retains the birth date


def test_different_patients_get_independent_shifts_and_pseudonyms() -> None:
    options = DeidOptions(retain_long_modified_dates=True)
    results = [deid(make_image(patient_id=f"P{i}"), options).record for i in range(20)]
    assert len({r.pseudonym for r in results}) == 20
    assert len({r.date_shift_days for r in results}) > 5


def test_full_dates_option_keeps_dates_and_says_so() -> None:
    out = deid(make_image(), DeidOptions(retain_long_full_dates=True)).dataset
    assert out.StudyDate == "20240315" and out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert deid(make_image()).dataset.LongitudinalTemporalInformationModified == "REMOVED"


def test_patient_id_and_name_become_the_pseudonym() -> None:
    result = deid(make_image())
    out, record = result.dataset, result.record
    assert out.PatientID == out.PatientName == record.pseudonym
    assert re.fullmatch(r"ANON[A-Z2-7]{16}", record.pseudonym)
    assert record.original_patient_id == "PID-7731" and record.original_accession_number == "ACC-55812"
    assert record.original_study_date == "20240315" and record.original_study_instance_uid == planted_uid(900002)
    assert record.new_study_instance_uid == out.StudyInstanceUID


def test_record_repr_and_summary_contain_no_patient_data() -> None:
    result = deid(phi_everywhere(), DeidOptions(retain_long_modified_dates=True))
    text = repr(result.record) + json.dumps(result.summary())
    for needle in ["Doe", "PID-7731", "ACC-55812", "20240315", TOKEN, PLANTED_UID_ROOT, "1953"]:
        assert needle not in text
    summary = result.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert {a["action"] for a in summary["actions"]} <= {"X", "Z", "D", "K", "C", "U"}
    assert all(re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", a["tag"]) for a in summary["actions"])


def test_deidentification_method_codes_are_cid_7050() -> None:
    options = DeidOptions(
        retain_long_modified_dates=True,
        retain_patient_chars=True,
        retain_device_id=True,
        retain_institution_id=True,
        retain_uids=True,
        retain_safe_private=True,
        clean_descriptors=True,
        clean_structured_content=True,
        clean_graphics=True,
    )
    out = deid(make_image(), options, text_cleaner=lambda s: "X").dataset
    assert out.PatientIdentityRemoved == "YES"
    dcm = {
        code: meaning
        for entries in concepts["DCM"].values()
        for code, (meaning, cids) in entries.items()
        if 7050 in cids
    }
    items = out.DeidentificationMethodCodeSequence
    assert items[0].CodeValue == "113100"
    for item in items:
        assert item.CodingSchemeDesignator == "DCM"
        assert dcm[item.CodeValue] == item.CodeMeaning
    assert {i.CodeValue for i in items} == {
        "113100",
        "113107",
        "113108",
        "113109",
        "113112",
        "113110",
        "113111",
        "113105",
        "113104",
        "113103",
    }
    assert all(len(v) <= 64 for v in out.DeidentificationMethod)
    for code, meaning in METHOD_CODES.values():
        assert dcm[code] == meaning


def test_type_1_and_2_attributes_of_a_cr_image_remain_present() -> None:
    for options in (BASIC, DeidOptions(retain_long_modified_dates=True), DeidOptions(retain_uids=True)):
        out = deid(make_image(), options).dataset
        for tag, typ in DEFAULT_IOD_TYPES[CR_IMAGE].required().items():
            assert tag in out, f"{tag:08X} (Type {typ}) lost"
            if typ == "1":
                assert out[tag].value not in (None, "", b""), f"{tag:08X} (Type 1) emptied"


def test_dx_variants_follow_the_dx_iod_and_nested_attributes_resolve_as_type_3() -> None:
    dx = deid(dx_image()).dataset
    assert len(dx.AcquisitionContextSequence) == 0  # X/Z, Type 2 in DX
    rpps = dx.ReferencedPerformedProcedureStepSequence  # X/Z/D, Type 1C in DX: dummy items
    assert len(rpps) == 1 and rpps[0].ReferencedSOPInstanceUID.startswith("2.25.")
    cr = make_image()
    cr.AcquisitionContextSequence = copy.deepcopy(dx_image().AcquisitionContextSequence)
    cr.ReferencedPerformedProcedureStepSequence = copy.deepcopy(dx_image().ReferencedPerformedProcedureStepSequence)
    out = deid(cr).dataset
    assert "AcquisitionContextSequence" not in out and "ReferencedPerformedProcedureStepSequence" not in out
    assert out.ContentDate == "" and "InstitutionName" not in out and "StationName" not in out
    nested = deid(make_image_with_nested()).dataset.AnatomicRegionSequence[0]
    assert "InstitutionName" not in nested and nested.PatientName == ""


def make_image_with_nested() -> Dataset:
    ds = make_image()
    ds.AnatomicRegionSequence = Sequence([nested_phi(5, 1)])
    return ds


def test_dummy_sequences_keep_no_identifying_codes() -> None:
    ds = make_image()
    person = Dataset()
    person.CodeValue = "EMP-48213"
    person.CodingSchemeDesignator = "LOCAL"
    person.CodeMeaning = "Dr Who"
    observer = Dataset()
    observer.VerifyingObserverName = "Who^Doctor"
    observer.add_new(0x00401101, "SQ", Sequence([person]))  # Person Identification Code Sequence (D)
    ds.VerifyingObserverSequence = Sequence([observer])  # D
    out = to_bytes(deid(ds).dataset)
    assert b"EMP-48213" not in out and b"Dr Who" not in out and b"Who^Doctor" not in out
    assert b"DEIDENTIFIED" in out


def test_private_attributes_removed_unless_allow_listed() -> None:
    ds = make_image()
    plant_private(ds, 1)
    assert not [t for t in deid(ds).dataset.keys() if t.group % 2]  # noqa: SIM118
    custom = DeidOptions(
        retain_safe_private=True,
        safe_private_allow_list=frozenset(
            {SafePrivateTag("PHIX VENDOR", 0x0009, 0x02), SafePrivateTag("PHIX VENDOR", 0x0009, 0x03)}
        ),
    )
    out = deid(ds, custom).dataset
    assert out[0x00090010].value == "PHIX VENDOR"
    assert 0x00091001 not in out  # not listed
    assert 0x00091002 not in out  # listed, but a date: removed without a temporal option
    assert out[0x00091003].value.startswith("2.25.")  # listed UID: replaced
    assert 0x00190010 not in out  # the default list is replaced by the custom one
    shifted = deid(
        ds,
        DeidOptions(
            retain_safe_private=True,
            retain_long_modified_dates=True,
            safe_private_allow_list=custom.safe_private_allow_list,
        ),
    ).dataset
    assert shifted[0x00091002].value != "19530303" and len(shifted[0x00091002].value) == 8


def test_overlays_and_curves_are_removed_whole() -> None:
    ds = make_image()
    plant_overlay_and_curve(ds, 1)
    for options in (BASIC, DeidOptions(clean_graphics=True)):
        out = deid(ds, options, text_cleaner=lambda s: s).dataset
        assert not [t for t in out.keys() if 0x5000 <= t.group <= 0x601E and t.group % 2 == 0]  # noqa: SIM118


def test_text_cleaner_hook_cleans_descriptors_and_respects_vr_lengths() -> None:
    ds = make_image()
    ds.StationName = "XR-ROOM-3"  # SH, Retain Device Identity keeps it; Clean Desc does not touch it
    ds.StudyDescription = "CHEST PA for Jane Doe"
    ds.add_new(0x00081080, "LO", ["Pneumonia in J Doe", "Rib fracture"])  # Admitting Diagnoses Description
    calls: list[str] = []

    def cleaner(text: str) -> str:
        calls.append(text)
        return text.replace("Jane Doe", "[NAME]").replace("J Doe", "[NAME]") + "\\" + "x" * 100

    out = deid(ds, DeidOptions(clean_descriptors=True), text_cleaner=cleaner).dataset
    assert out.StudyDescription.startswith("CHEST PA for [NAME]") and len(out.StudyDescription) == 64
    assert "\\" not in out.StudyDescription
    assert [v[:18] for v in out[0x00081080].value] == ["Pneumonia in [NAME", "Rib fracture xxxxx"]
    assert set(calls) == {"CHEST PA for Jane Doe", "Pneumonia in J Doe", "Rib fracture"}

    def broken(text: str) -> str:
        raise RuntimeError("model crashed")

    with pytest.raises(DeidError, match=r"\(0008,1030\)"):
        deid(ds, DeidOptions(clean_descriptors=True), text_cleaner=broken)


def test_burned_in_annotation_is_refused_without_clean_pixel_data() -> None:
    ds = make_image()
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(UnsafeToDeidentify):
        deid(ds)
    encapsulated = make_image()
    encapsulated.BurnedInAnnotation = "YES"
    encapsulated.file_meta.TransferSyntaxUID = JPEG2000Lossless
    encapsulated.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\x00\xe0\x04\x00\x00\x00abcd"
    with pytest.raises(UnsafeToDeidentify):
        deid(encapsulated)
    result = deid(ds, DeidOptions(clean_pixel_data=True, clean_recognizable_visual_features=True))
    assert result.pending == {"clean_pixel_data", "clean_recognizable_visual_features"}
    codes = [i.CodeValue for i in result.dataset.DeidentificationMethodCodeSequence]
    assert "113101" not in codes and "113102" not in codes
    mark_option_applied(result.dataset, "clean_pixel_data")
    mark_option_applied(result.dataset, "clean_pixel_data")
    codes = [i.CodeValue for i in result.dataset.DeidentificationMethodCodeSequence]
    assert codes.count("113101") == 1
    assert "Clean Pixel Data Option" in result.dataset.DeidentificationMethod
    assert deid(make_image()).pending == frozenset()


def test_secondary_capture_must_declare_no_burned_in_annotation() -> None:
    sc = make_image(SC_IMAGE)
    sc.ConversionType = "DF"
    with pytest.raises(UnsafeToDeidentify):
        deid(sc)
    sc.BurnedInAnnotation = "NO"
    assert deid(sc).iod == "Secondary Capture Image"


def test_embedded_overlay_bits_are_reported_as_pending() -> None:
    ds = make_image()
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000102, "US", 15)
    assert "embedded_overlay_bits" in deid(ds).pending


def test_strict_iod_refuses_unknown_sop_classes_and_lenient_mode_uses_the_generic_table() -> None:
    ds = make_image("1.2.840.10008.5.1.4.1.1.481.1")  # RT Image: no curated table
    with pytest.raises(UnsafeToDeidentify):
        deid(ds, DeidOptions(strict_iod=True))
    assert deid(ds).iod.startswith("Generic")
    assert deid(make_image(CT_IMAGE), DeidOptions(strict_iod=True)).iod == "CT Image"
    assert deid(make_image(DX_FOR_PRESENTATION)).iod.startswith("Digital X-Ray")


def test_typed_errors_for_unusable_input_and_configuration() -> None:
    ds = make_image()
    del ds.SOPInstanceUID
    with pytest.raises(DeidError):
        deid(ds)
    with pytest.raises(DeidError):
        Deidentifier(BASIC, SECRET).deidentify({"not": "a dataset"})  # type: ignore[arg-type]
    with pytest.raises(DeidConfigError) as err:
        Deidentifier(BASIC, b"short")
    assert err.value.key == "secret"
    no_meta = make_image()
    del no_meta.file_meta
    no_meta.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    with pytest.raises(DeidError, match="Transfer Syntax"):
        deid(no_meta)


def test_unknown_public_tags_and_group_lengths_are_removed() -> None:
    ds = make_image()
    ds.add_new(0x00180000, "UL", 4)
    ds.add_new(0x0019F0F0 - 0x00010000, "LO", "X")  # (0018,F0F0): not in any dictionary
    out = deid(ds).dataset
    assert 0x00180000 not in out and 0x0018F0F0 not in out


@pytest.mark.dcmtk
@pytest.mark.parametrize("factory", [make_image, dx_image], ids=["CR", "DX"])
def test_dciodvfy_finds_no_error_in_deidentified_instances(factory, tmp_path: Path) -> None:
    """dicom3tools' IOD validator: the de-identified CR/DX is still a valid instance."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    for options in (BASIC, DeidOptions(retain_long_modified_dates=True, retain_device_id=True)):
        path = tmp_path / "out.dcm"
        path.write_bytes(to_bytes(deid(factory(), options).dataset))
        proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False)
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]
        assert not errors, errors


@pytest.mark.parametrize(
    ("tag", "vr", "raw"),
    [
        (0x0020000D, "IS", b"2.25.244816079129477287617486047682377351900 "),  # a UID where the VR says IS
        (0x00280030, "DS", b"abc\\def "),  # a Decimal String that is no number (Pixel Spacing, kept)
    ],
)
def test_an_unrepresentable_value_is_unsafe_and_named_never_an_untyped_error(tag: int, vr: str, raw: bytes) -> None:
    ds = make_image()
    ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)  # type: ignore[assignment]
    with pytest.raises(UnsafeToDeidentify) as info:
        deid(ds)
    assert f"({tag >> 16:04X},{tag & 0xFFFF:04X})" in str(info.value)
    assert raw.decode().strip() not in str(info.value)
