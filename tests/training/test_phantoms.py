"""Phantom radiographs and their DICOM files: findings land where they should, encodings are
real and consistent, everything is deterministic by seed, sets and manifests round trip."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import UID, ExplicitVRLittleEndian

from training.findings import (
    FINDINGS,
    MIN_SAMPLED_NODULE_MM,
    FindingDetails,
    StudyFindings,
)
from training.labeler import label_report
from training.phantoms import (
    CR_IMAGE_STORAGE,
    DX_IMAGE_STORAGE_FOR_PRESENTATION,
    MANIFEST_KEYS,
    ManifestError,
    PhantomError,
    load_phantom_manifest,
    make_phantom,
    render_radiograph,
    write_phantom_set,
)

SIZE = 256
REPO = Path(__file__).resolve().parents[2]


def _render(f: StudyFindings, seed: int, details: FindingDetails | None = None) -> np.ndarray:
    return render_radiograph(f, np.random.default_rng(seed), (SIZE, SIZE), details=details)


def test_render_shape_range_and_determinism() -> None:
    f = StudyFindings(effusion="both", devices=frozenset({"line"}))
    a = render_radiograph(f, np.random.default_rng(1), (300, 260))
    b = render_radiograph(f, np.random.default_rng(1), (300, 260))
    c = render_radiograph(f, np.random.default_rng(2), (300, 260))
    assert a.shape == (300, 260) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_render_rejects_tiny_images() -> None:
    with pytest.raises(PhantomError):
        render_radiograph(StudyFindings(), np.random.default_rng(0), (16, 16))


def test_lungs_are_dark_and_mediastinum_bright() -> None:
    img = _render(StudyFindings(), 3)
    rows = slice(int(0.3 * SIZE), int(0.5 * SIZE))
    right_lung = img[rows, int(0.22 * SIZE) : int(0.32 * SIZE)].mean()
    left_lung = img[rows, int(0.68 * SIZE) : int(0.78 * SIZE)].mean()
    mediastinum = img[int(0.55 * SIZE) : int(0.65 * SIZE), int(0.47 * SIZE) : int(0.53 * SIZE)].mean()
    outside = img[int(0.5 * SIZE) :, :4].mean()
    assert mediastinum > right_lung + 0.2 and mediastinum > left_lung + 0.2
    assert outside < right_lung


# (findings, details, row range, column range of the centroid of changed pixels (image
# fractions), sign of the change). The patient's left is the image's right.
LOCALISATION = [
    (StudyFindings(effusion="left"), None, (0.55, 0.85), (0.55, 0.9), +1),
    (StudyFindings(effusion="right"), None, (0.55, 0.85), (0.1, 0.45), +1),
    (StudyFindings(pneumothorax="left"), None, (0.15, 0.6), (0.55, 0.95), -1),
    (StudyFindings(pneumothorax="right"), None, (0.15, 0.6), (0.05, 0.45), -1),
    (StudyFindings(consolidation=("right", "lower")), None, (0.45, 0.75), (0.1, 0.45), +1),
    (StudyFindings(consolidation=("right", "middle")), None, (0.4, 0.7), (0.2, 0.47), +1),
    (StudyFindings(consolidation=("left", "upper")), None, (0.15, 0.5), (0.55, 0.9), +1),
    (StudyFindings(nodule=("right", "upper", 20, "nodule")), None, (0.1, 0.4), (0.1, 0.45), +1),
    (StudyFindings(nodule=("left", "lower", 50, "mass")), None, (0.45, 0.75), (0.55, 0.9), +1),
    (StudyFindings(atelectasis=("left", "mid")), None, (0.35, 0.75), (0.55, 0.95), +1),
    (StudyFindings(atelectasis=("right", "upper")), None, (0.1, 0.45), (0.1, 0.5), +1),
    (StudyFindings(cardiomegaly=True), None, (0.45, 0.75), (0.35, 0.85), +1),
    (
        StudyFindings(devices=frozenset({"line"})),
        FindingDetails(ctr=0.45, line_kind="right_ij_cvc", line_tip="svc"),
        (0.0, 0.45),
        (0.3, 0.5),
        +1,
    ),
    (
        StudyFindings(devices=frozenset({"tube"})),
        FindingDetails(ctr=0.45, tube_cm=4),
        (0.0, 0.4),
        (0.44, 0.58),
        +1,
    ),
    (
        StudyFindings(devices=frozenset({"pacemaker"})),
        FindingDetails(ctr=0.45, pacemaker_side="left", pacemaker_leads=2),
        (0.0, 0.5),
        (0.5, 0.9),
        +1,
    ),
]


@pytest.mark.parametrize(
    ("f", "details", "row_range", "col_range", "sign"),
    LOCALISATION,
    ids=[str(case[0].to_dict()) for case in LOCALISATION],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_finding_changes_pixels_where_expected(
    f: StudyFindings,
    details: FindingDetails | None,
    row_range: tuple[float, float],
    col_range: tuple[float, float],
    sign: int,
    seed: int,
) -> None:
    normal_details = FindingDetails(ctr=details.ctr) if details else None
    if f.cardiomegaly:
        base = _render(StudyFindings(), seed)
    else:
        base = _render(StudyFindings(), seed, details=normal_details)
    diff = _render(f, seed, details=details) - base
    changed = np.abs(diff) > 0.05
    # Visible at the model's input size: a 5 %-wide nodule covers about 0.2 % of the image.
    assert changed.mean() > 0.0015
    rows, cols = np.nonzero(changed)
    assert row_range[0] <= rows.mean() / SIZE <= row_range[1]
    assert col_range[0] <= cols.mean() / SIZE <= col_range[1]
    assert np.sign(diff[changed].mean()) == sign


@pytest.mark.parametrize(
    ("side", "finding_cols", "other_cols"), [("left", (0.55, 0.9), (0.1, 0.45)), ("right", (0.1, 0.45), (0.55, 0.9))]
)
def test_effusion_whitens_the_lower_zone_of_its_side_only(
    side: str, finding_cols: tuple[float, float], other_cols: tuple[float, float]
) -> None:
    lower = slice(int(0.62 * SIZE), int(0.78 * SIZE))
    for seed in range(3):
        base = _render(StudyFindings(), seed)
        img = _render(StudyFindings(effusion=side), seed)

        def mean(a: np.ndarray, c: tuple[float, float]) -> float:
            return float(a[lower, int(c[0] * SIZE) : int(c[1] * SIZE)].mean())

        assert mean(img, finding_cols) > mean(base, finding_cols) + 0.05
        assert abs(mean(img, other_cols) - mean(base, other_cols)) < 0.002


@pytest.mark.parametrize("seed", range(4))
def test_smallest_sampled_nodule_is_five_percent_of_the_width(seed: int) -> None:
    f = StudyFindings(nodule=("left", "upper", MIN_SAMPLED_NODULE_MM, "nodule"))
    diff = _render(f, seed) - _render(StudyFindings(), seed)
    rows, cols = np.nonzero(diff > 0.05)
    assert cols.max() - cols.min() + 1 >= 0.045 * SIZE
    assert rows.max() - rows.min() + 1 >= 0.045 * SIZE


def test_pneumothorax_rim_has_no_lung_markings() -> None:
    # Lung markings make aerated lung vary from pixel to pixel; the pleural air does not.
    seed = 4
    base = _render(StudyFindings(), seed)
    img = _render(StudyFindings(pneumothorax="left"), seed)
    rim = (img - base) < -0.05
    assert rim.sum() > 100
    assert img[rim].mean() < base[rim].mean() - 0.05


def test_cardiomegaly_widens_the_heart() -> None:
    """The bright heart shadow at its widest row is much wider with cardiomegaly."""

    def widest(img: np.ndarray) -> int:
        band = img[int(0.5 * SIZE) : int(0.68 * SIZE)]
        lungs = np.percentile(band, 20)
        heart = band > lungs + 0.6 * (np.percentile(img, 99) - lungs)
        centre = SIZE // 2
        widths = []
        for row in heart:
            left = right = centre
            while left > 0 and row[left - 1]:
                left -= 1
            while right < SIZE - 1 and row[right + 1]:
                right += 1
            widths.append(right - left)
        return int(np.median(sorted(widths)[-5:]))

    for seed in range(3):
        normal = widest(_render(StudyFindings(), seed, FindingDetails(ctr=0.44)))
        big = widest(_render(StudyFindings(cardiomegaly=True), seed, FindingDetails(ctr=0.64)))
        assert big > normal * 1.25


def test_anatomy_stays_in_the_central_square() -> None:
    """Resize-shortest-side + centre-crop of a tall image shows the same chest as a square one."""
    f = StudyFindings(nodule=("left", "mid", 30, "nodule"), effusion="right")
    tall = render_radiograph(f, np.random.default_rng(8), (320, 280))
    square = render_radiograph(f, np.random.default_rng(8), (280, 280))
    crop = tall[20:300]
    assert np.corrcoef(crop.ravel(), square.ravel())[0, 1] > 0.97
    # Nothing but neck and abdomen outside the square: no lung (dark inside the body).
    assert tall[:20, 110:170].mean() > 0.25 and tall[300:, 60:220].mean() > 0.35


# ------------------------------------------------------------------------------------------
# DICOM


def _read(p: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(p))


def test_same_seed_gives_byte_identical_files() -> None:
    a = make_phantom(77, rows=128, cols=128).to_bytes()
    b = make_phantom(77, rows=128, cols=128).to_bytes()
    assert a == b
    assert make_phantom(78, rows=128, cols=128).to_bytes() != a


def test_files_are_identical_across_processes() -> None:
    code = (
        "import hashlib;from training.phantoms import make_phantom;"
        "print(hashlib.sha256(make_phantom(4242, rows=96, cols=96).to_bytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    here = hashlib.sha256(make_phantom(4242, rows=96, cols=96).to_bytes()).hexdigest()
    assert out.stdout.strip() == here


@pytest.mark.parametrize(
    ("modality", "sop_class"), [("CR", CR_IMAGE_STORAGE), ("DX", DX_IMAGE_STORAGE_FOR_PRESENTATION)]
)
@pytest.mark.parametrize("bits", [12, 14, 16])
def test_dicom_reads_back(modality: str, sop_class: str, bits: int) -> None:
    p = make_phantom(5, modality=modality, bits_stored=bits, rows=160, cols=144)
    ds = _read(p.to_bytes())
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPClassUID == sop_class == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.Modality == modality
    assert (ds.Rows, ds.Columns) == (160, 144)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, bits, bits - 1, 0)
    assert ds.SamplesPerPixel == 1
    arr = ds.pixel_array
    assert arr.shape == (160, 144) and arr.dtype == np.uint16
    assert int(arr.max()) < 2**bits and int(arr.max()) > 2 ** (bits - 1)
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (1, 0)
    assert float(ds.WindowWidth) > 0 and 0 < float(ds.WindowCenter) < 2**bits
    for kw in (
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
        "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate", "StudyTime",
        "SeriesNumber", "InstanceNumber", "BodyPartExamined", "ViewPosition", "StudyDescription",
        "InstitutionName", "ReferringPhysicianName", "Manufacturer", "ImageType",
        "PatientOrientation", "ImagerPixelSpacing",
    ):  # fmt: skip
        assert kw in ds and str(ds[kw].value) != "", kw
    assert ds.BodyPartExamined == "CHEST" and ds.ViewPosition in ("PA", "AP")
    for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
        assert UID(uid).is_valid
    assert len({ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}) == 3
    if modality == "DX":
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert ds.PresentationLUTShape in ("IDENTITY", "INVERSE")
        assert ds.PixelIntensityRelationshipSign in (1, -1)


def test_headers_are_deterministic_and_distinct_per_seed() -> None:
    a, b = (_read(make_phantom(s, rows=64, cols=64).to_bytes()) for s in (10, 11))
    again = _read(make_phantom(10, rows=64, cols=64).to_bytes())
    assert a.StudyInstanceUID == again.StudyInstanceUID and a.PatientName == again.PatientName
    assert a.StudyInstanceUID != b.StudyInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.AccessionNumber != b.AccessionNumber


def test_encoding_options_do_not_change_the_picture_or_the_truth() -> None:
    a = make_phantom(31, modality="CR", photometric="MONOCHROME2", bits_stored=12, rows=128, cols=128)
    b = make_phantom(31, modality="DX", photometric="MONOCHROME1", bits_stored=16, rows=128, cols=128)
    assert a.findings == b.findings and a.report == b.report
    m2 = a.dataset.pixel_array.astype(float) / 4095
    m1 = 1.0 - b.dataset.pixel_array.astype(float) / 65535
    assert np.abs(m2 - m1).max() < 1e-3


def _display(ds: pydicom.Dataset) -> np.ndarray:
    """What a viewer shows: modality LUT, VOI window, then MONOCHROME1 inversion, as 0..1."""
    v = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(float)
    bits = int(ds.BitsStored)
    v = v / (2**bits - 1)
    return 1.0 - v if ds.PhotometricInterpretation == "MONOCHROME1" else v


@pytest.mark.parametrize("modality", ["CR", "DX"])
def test_monochrome1_and_monochrome2_display_the_same(modality: str) -> None:
    kw = {"modality": modality, "bits_stored": 14, "rows": 128, "cols": 128}
    ds1 = _read(make_phantom(12, photometric="MONOCHROME1", **kw).to_bytes())
    ds2 = _read(make_phantom(12, photometric="MONOCHROME2", **kw).to_bytes())
    raw1, raw2 = ds1.pixel_array.astype(int), ds2.pixel_array.astype(int)
    assert np.array_equal(raw1 + raw2, np.full_like(raw1, 2**14 - 1))  # stored inverse
    d1, d2 = _display(ds1), _display(ds2)
    assert np.abs(d1 - d2).mean() < 0.01  # displayed the same
    assert np.corrcoef(raw1.ravel(), raw2.ravel())[0, 1] < -0.99


def test_phantom_report_and_labels_agree() -> None:
    for seed in range(20):
        p = make_phantom(seed, rows=64, cols=64)
        assert np.array_equal(label_report(p.report.text), p.findings.labels())
        assert p.details.matches(p.findings)


def test_bad_options_are_rejected() -> None:
    for kwargs in ({"modality": "CT"}, {"photometric": "RGB"}, {"bits_stored": 8}, {"bits_stored": 17}):
        with pytest.raises(PhantomError):
            make_phantom(1, rows=64, cols=64, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(PhantomError):
        make_phantom(-1)


@pytest.mark.dcmtk
def test_dcmtk_reads_and_renders_the_files(tmp_path: Path) -> None:
    if shutil.which("dcmdump") is None or shutil.which("dcm2pnm") is None:
        pytest.skip("DCMTK (dcmdump, dcm2pnm) is not installed")
    shown = []
    for photometric in ("MONOCHROME1", "MONOCHROME2"):
        for modality in ("CR", "DX"):
            path = tmp_path / f"{photometric}-{modality}.dcm"
            path.write_bytes(make_phantom(9, modality=modality, photometric=photometric, rows=128, cols=112).to_bytes())
            dump = subprocess.run(["dcmdump", str(path)], check=False, capture_output=True, text=True, timeout=30)
            assert dump.returncode == 0, dump.stderr
            assert "E:" not in dump.stderr and "W:" not in dump.stderr, dump.stderr
            assert f"[{photometric}]" in dump.stdout and f"[{modality}]" in dump.stdout
            assert "LittleEndianExplicit" in dump.stdout
            png = tmp_path / f"{photometric}-{modality}.png"
            # Render as a viewer would: the file's own window, MONOCHROME1 inverted.
            conv = subprocess.run(
                ["dcm2pnm", "+Wi", "1", "+on", str(path), str(png)],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert conv.returncode == 0, conv.stderr
            shown.append(np.asarray(Image.open(png), dtype=float))
    assert shown[0].shape == (128, 112)
    for other in shown[1:]:
        assert np.abs(other - shown[0]).mean() < 1.0  # out of 255


# ------------------------------------------------------------------------------------------
# Sets and manifests


def test_write_phantom_set(tmp_path: Path) -> None:
    out = write_phantom_set(tmp_path / "set", 24, seed=3, rows=64, cols=64)
    entries = load_phantom_manifest(out)
    assert len(entries) == 24
    assert [e["id"] for e in entries] == [f"{i:05d}" for i in range(24)]
    modalities, photometrics, bits = set(), set(), set()
    for e in entries:
        assert set(MANIFEST_KEYS) <= set(e)
        ds = pydicom.dcmread(out / e["file"])
        assert ds.StudyInstanceUID == e["study_uid"] and ds.AccessionNumber == e["accession"]
        f = StudyFindings.from_dict(e["findings"])
        assert e["labels"] == [int(v) for v in f.labels()] and len(e["labels"]) == len(FINDINGS)
        assert e["report"] == f"FINDINGS: {e['findings_text']} IMPRESSION: {e['impression_text']}"
        assert [int(v) for v in label_report(e["report"])] == e["labels"]
        modalities.add(ds.Modality)
        photometrics.add(ds.PhotometricInterpretation)
        bits.add(int(ds.BitsStored))
    assert modalities == {"CR", "DX"}
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}
    assert len(bits) >= 3 and min(bits) >= 12 and max(bits) <= 16
    # Same set seed, same files; another seed, other phantoms.
    again = write_phantom_set(tmp_path / "again", 3, seed=3, rows=64, cols=64)
    assert (again / "00000.dcm").read_bytes() == (out / "00000.dcm").read_bytes()
    other = load_phantom_manifest(write_phantom_set(tmp_path / "other", 3, seed=4, rows=64, cols=64))
    assert {e["study_uid"] for e in other}.isdisjoint({e["study_uid"] for e in entries})


def test_default_sets_mix_sizes(tmp_path: Path) -> None:
    out = write_phantom_set(tmp_path, 12, seed=1)
    sizes = {
        (pydicom.dcmread(p, stop_before_pixels=True).Rows, pydicom.dcmread(p, stop_before_pixels=True).Columns)
        for p in out.glob("*.dcm")
    }
    assert len(sizes) >= 2
    assert all(min(s) >= 400 and max(s) <= 700 for s in sizes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json\n", "not JSON"),
        ("[1, 2]\n", "not a JSON object"),
        (json.dumps({"id": "0"}) + "\n", "missing keys"),
    ],
)
def test_manifest_errors(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "manifest.jsonl").write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_phantom_manifest(tmp_path)


@pytest.mark.slow
def test_generation_speed(tmp_path: Path) -> None:
    """3000 default phantoms must take about 2 minutes on one core: ~40 ms each."""
    write_phantom_set(tmp_path / "warm", 2, seed=0)
    start = time.perf_counter()
    write_phantom_set(tmp_path / "set", 60, seed=1)
    per_phantom = (time.perf_counter() - start) / 60
    assert per_phantom < 0.08, per_phantom
