"""Acceptance: a whole planted-PHI study through `DeidTool` (header engine + Clean Descriptors +
Clean Pixel Data), checked from the outside: raw output bytes, OCR of the output pixels, pixels
outside the blacked-out boxes, and the consistency of the de-identified study."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from deid.options import DeidOptions
from deid.pixels import PixelCleaner, boxes_mask
from deid.testing import PLANTED_UID_ROOT, SECRET, TOKEN
from deid.tool import DeidTool
from tests.deid.pixels.fixtures import (
    Text,
    burn,
    leaked,
    needs_tesseract,
    ocr_words,
    stored_values,
)
from tools.compare_deid import SERIES_UID, STUDY_UID, planted_study

pytestmark = [needs_tesseract, pytest.mark.slow]

# The patient's identity: the study context the descriptor cleaner works from, and the markers
# searched for in the output. Free text that only carries arbitrary tokens is not PHI to a text
# cleaner, so under Clean Descriptors the planted text values become the patient's own data.
FAMILY, GIVEN, MRN, ACCESSION = "Qzarnik", "Velmora", "55831907", "A77120954"
BURNED = (FAMILY.upper(), GIVEN.upper(), MRN, "ELSEWHERE")
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS", "AE"}
SIZE = 256
OPTIONS = DeidOptions(clean_pixel_data=True, clean_descriptors=True)


def _as_patient_text(vr: str) -> str:
    if vr == "PN":
        return f"{FAMILY}^{GIVEN}"
    if vr in ("CS", "AE"):
        return FAMILY.upper()
    if vr == "SH":
        return MRN
    if vr == "LO":
        return f"{FAMILY}^{GIVEN} {MRN}"
    return f"Seen with {GIVEN} {FAMILY}, MRN {MRN}, accession {ACCESSION}."


def _patient_phi_everywhere(ds: Dataset) -> None:
    """Every planted text token (top level and nested) becomes the patient's name / MRN."""

    def swap(item: Dataset, elem) -> None:
        if elem.VR in TEXT_VRS and TOKEN in str(elem.value):
            elem.value = _as_patient_text(elem.VR)

    ds.walk(swap)
    ds.PatientName = f"{FAMILY}^{GIVEN}"
    ds.PatientID = MRN
    ds.AccessionNumber = ACCESSION


@dataclass
class Run:
    inputs: list[Dataset]  # what was written to disk, in instance order
    burned: list[np.ndarray]  # glyph masks
    outputs: list[Path]
    raw_in: list[bytes]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    src = tmp_path_factory.mktemp("in")
    out = tmp_path_factory.mktemp("out")
    inputs, masks = [], []
    for k, ds in enumerate(planted_study(2, SIZE, seed=13)):
        _patient_phi_everywhere(ds)
        texts = [
            Text(6, 6, f"{FAMILY.upper()} {GIVEN.upper()}", 16),
            Text(6, 26, f"MRN {MRN}", 16),
            Text(140, 232, "ELSEWHERE", 14),
        ]
        image, mask = burn(ds.pixel_array.astype(np.int64), texts, (1 << int(ds.BitsStored)) - 1)
        ds.PixelData = image.astype("<u2").tobytes()
        ds.BurnedInAnnotation = "YES"
        ds.save_as(src / f"instance{k}.dcm", enforce_file_format=True)
        inputs.append(ds)
        masks.append(mask)
    summary = DeidTool(OPTIONS, SECRET).run(src, out)
    assert summary.refused == [], summary.refused
    written = sorted(summary.written, key=lambda w: w["input"])
    return Run(
        inputs,
        masks,
        [out / w["output"] for w in written],
        [(src / f"instance{k}.dcm").read_bytes() for k in range(len(inputs))],
    )


def _needles() -> list[bytes]:
    words = [TOKEN, PLANTED_UID_ROOT, "1953", FAMILY, GIVEN, MRN, ACCESSION, "ELSEWHERE"]
    out = []
    for w in words:
        for variant in (w, w.upper(), w.lower()):
            out += [variant.encode("latin-1"), variant.encode("utf-16-le"), variant.encode("utf-16-be")]
    return sorted(set(out))


def test_the_planted_input_carries_every_marker(run: Run) -> None:
    joined = b"".join(run.raw_in)
    for word in (TOKEN, PLANTED_UID_ROOT, "1953", FAMILY, GIVEN, MRN, ACCESSION):
        assert word.encode() in joined, word
    assert joined.count(FAMILY.encode()) > 100, "the patient's name is planted in many attributes"


def test_no_planted_marker_survives_in_the_output_bytes(run: Run) -> None:
    for path in run.outputs:
        data = path.read_bytes()
        for needle in _needles():
            hits = [m.start() for m in re.finditer(re.escape(needle), data)]
            assert not hits, f"{path.name}: {needle!r} at {hits[:3]}: {data[max(0, hits[0] - 48) : hits[0] + 24]!r}"


def test_ocr_reads_none_of_the_burned_in_text(run: Run) -> None:
    for ds, path in zip(run.inputs, run.outputs):
        assert leaked(BURNED, ocr_words(ds.pixel_array.astype(np.int64))), "the input text must be readable"
        assert leaked(BURNED, ocr_words(stored_values(dcmread(path))[0])) == set()


def test_pixels_outside_the_boxes_are_unchanged(run: Run) -> None:
    """The tool's pixel stage is PixelCleaner; its boxes (re-run on the same input) bound every
    changed pixel, cover the glyphs and are small."""
    cleaner = PixelCleaner()
    for ds, mask, path in zip(run.inputs, run.burned, run.outputs):
        boxes = cleaner.clean(ds).boxes
        inside = boxes_mask(boxes, 1, SIZE, SIZE)[0]
        before = np.frombuffer(ds.PixelData, "<u2").reshape(SIZE, SIZE)
        after = np.frombuffer(dcmread(path).PixelData, "<u2").reshape(SIZE, SIZE)
        assert np.array_equal(before[~inside], after[~inside])
        assert inside[mask].mean() > 0.95, "the glyphs are inside the boxes"
        assert inside.mean() < 0.15, "only small regions are blacked out"


#: Type 1 and 2 attributes of the CR Image IOD modules a CR instance must keep (PS3.3 A.2).
CR_REQUIRED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "Manufacturer",
    "InstanceNumber",
    "PatientOrientation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
    "SOPClassUID",
    "SOPInstanceUID",
    "ImageType",
)


def test_the_study_stays_one_consistent_study(run: Run) -> None:
    outs = [dcmread(p) for p in run.outputs]
    assert len(outs) == len(run.inputs) == 2
    assert len({o.StudyInstanceUID for o in outs}) == 1 and outs[0].StudyInstanceUID != STUDY_UID
    assert len({o.SeriesInstanceUID for o in outs}) == 1 and outs[0].SeriesInstanceUID != SERIES_UID
    assert outs[0].SeriesInstanceUID != outs[0].StudyInstanceUID
    assert len({o.SOPInstanceUID for o in outs}) == len(outs)
    assert not {o.SOPInstanceUID for o in outs} & {i.SOPInstanceUID for i in run.inputs}
    assert len({str(o.PatientID) for o in outs}) == 1 and outs[0].PatientID != MRN
    for out, src in zip(outs, run.inputs):
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        assert out.file_meta.MediaStorageSOPClassUID == out.SOPClassUID == src.SOPClassUID
        assert "SourceApplicationEntityTitle" not in out.file_meta
        missing = [k for k in CR_REQUIRED if k not in out]
        assert not missing, missing
        assert out.PatientIdentityRemoved == "YES" and out.BurnedInAnnotation == "NO"
        assert (out.Rows, out.Columns, out.BitsStored) == (src.Rows, src.Columns, src.BitsStored)


def _dciodvfy_errors(path: Path) -> set[str]:
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return {line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")}


#: New dciodvfy errors that follow from the planted input, not from the engine: the input plants
#: both Clinical Trial Protocol Ethics Committee Name and Approval Number; the table removes the
#: number (X) and keeps the name emptied (Z... via D/Z), so the 1C condition of the name no longer holds.
PLANTED_INPUT_ARTEFACTS = ("ClinicalTrialProtocolEthicsCommitteeName",)


@pytest.mark.dcmtk
@pytest.mark.parametrize(
    "check",
    [
        "structure",
        # a cleaned CS value is emptied, never given the cleaner's "[TYPE]" placeholder
        "vr",
    ],
)
def test_dciodvfy_finds_no_error_the_input_did_not_have(run: Run, tmp_path: Path, check: str) -> None:
    """The input plants every table row, so it is not a valid CR itself; de-identification must
    add no error of its own (the input's own errors are subtracted)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    for k, path in enumerate(run.outputs):
        source = tmp_path / f"in{k}.dcm"
        source.write_bytes(run.raw_in[k])
        new = _dciodvfy_errors(path) - _dciodvfy_errors(source)
        new = {e for e in new if not any(a in e for a in PLANTED_INPUT_ARTEFACTS)}
        invalid_vr = {e for e in new if "invalid" in e and "Value Representation" in e or "Value invalid" in e}
        if check == "vr":
            assert not invalid_vr, sorted(invalid_vr)
        else:
            assert not new - invalid_vr, sorted(new - invalid_vr)
