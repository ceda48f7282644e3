"""training.datasets on small IU X-ray and JSONL fixtures written here (CSV/JSONL text, PNGs from pillow)."""

from __future__ import annotations

import csv
import json
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from training.datasets import (
    SKIP_EMPTY_REPORT,
    SKIP_IMAGES_MISSING,
    SKIP_NO_FRONTAL,
    SKIP_NO_IMAGES,
    DatasetError,
    LoadResult,
    ReportExample,
    load_iu_xray,
    load_jsonl,
    split_report,
)

REPORT_HEADER = ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"]
PROJECTION_HEADER = ["uid", "filename", "projection"]
IMAGES_DIR = Path("images/images_normalized")


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), color=128).save(path)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def report_row(uid: str, findings: str, impression: str, mesh: str = "normal") -> list[str]:
    return [uid, mesh, mesh, "Xray Chest PA and Lateral", "Positive TB test", "None.", findings, impression]


def iu_fixture(
    root: Path,
    reports: Sequence[Sequence[str]],
    projections: Sequence[tuple[str, str, str]],
    missing: frozenset[str] = frozenset(),
) -> None:
    """Write both CSVs and a PNG for every projection row whose filename is not in `missing`."""
    write_csv(root / "indiana_reports.csv", REPORT_HEADER, reports)
    write_csv(root / "indiana_projections.csv", PROJECTION_HEADER, projections)
    for _, filename, _ in projections:
        if filename not in missing:
            png(root / IMAGES_DIR / filename)


def standard_iu(root: Path) -> None:
    reports = [
        report_row("10", "Heart size is normal and the lungs are clear.", "No acute cardiopulmonary abnormality."),
        report_row(
            "2",
            "Borderline cardiomegaly. Midline sternotomy XXXX. Enlarged pulmonary arteries.",
            "No acute pulmonary findings.",
            mesh="Cardiomegaly/borderline;Pulmonary Artery/enlarged",
        ),
        report_row(
            "1",
            "The cardiac silhouette and mediastinum size are within normal limits.",
            "Normal chest x-XXXX.",
        ),
    ]
    projections = [
        ("10", "10_IM-0002-1001.dcm.png", "Frontal"),
        ("2", "2_IM-0652-2001.dcm.png", "Lateral"),
        ("2", "2_IM-0652-1001.dcm.png", "Frontal"),
        ("1", "1_IM-0001-4001.dcm.png", "Frontal"),
        ("1", "1_IM-0001-3001.dcm.png", "Lateral"),
    ]
    iu_fixture(root, reports, projections)


# --- IU X-ray ---------------------------------------------------------------------------------------


def test_iu_sorted_numerically_frontal_only_by_default(tmp_path: Path) -> None:
    standard_iu(tmp_path)
    result = load_iu_xray(tmp_path)
    assert [example.id for example in result.examples] == ["1", "2", "10"]
    for example in result.examples:
        assert len(example.image_paths) == 1
        assert example.image_paths[0].is_file()
    assert result.examples[1].image_paths == (tmp_path / IMAGES_DIR / "2_IM-0652-1001.dcm.png",)
    assert result.skipped == {}
    assert result.dropped_images == 0


def test_iu_all_projections_put_frontal_first(tmp_path: Path) -> None:
    standard_iu(tmp_path)
    by_id = {example.id: example for example in load_iu_xray(tmp_path, frontal_only=False).examples}
    # uid 2 lists its lateral first in the CSV; uid 1's lateral file name sorts first.
    assert [p.name for p in by_id["2"].image_paths] == ["2_IM-0652-1001.dcm.png", "2_IM-0652-2001.dcm.png"]
    assert [p.name for p in by_id["1"].image_paths] == ["1_IM-0001-4001.dcm.png", "1_IM-0001-3001.dcm.png"]


def test_iu_sections_labels_and_placeholders(tmp_path: Path) -> None:
    standard_iu(tmp_path)
    by_id = {example.id: example for example in load_iu_xray(tmp_path).examples}
    two = by_id["2"]
    assert two.findings == "Borderline cardiomegaly. Midline sternotomy XXXX. Enlarged pulmonary arteries."
    assert two.impression == "No acute pulmonary findings."
    assert two.labels == ("Cardiomegaly/borderline", "Pulmonary Artery/enlarged")
    assert by_id["1"].labels == ("normal",)
    assert by_id["1"].text == (
        "FINDINGS: The cardiac silhouette and mediastinum size are within normal limits. "
        "IMPRESSION: Normal chest x-XXXX."
    )


def test_iu_quoting_newlines_and_missing_cells(tmp_path: Path) -> None:
    reports = [
        report_row("1", 'Lungs clear, no "acute"\nprocess,  heart normal.', "nan", mesh=""),
        report_row("2", "", "Stable, compared to XXXX."),
        report_row("3", "NaN", " "),
    ]
    projections = [(uid, f"{uid}_IM.dcm.png", "Frontal") for uid in ("1", "2", "3")]
    iu_fixture(tmp_path, reports, projections)
    result = load_iu_xray(tmp_path)
    by_id = {example.id: example for example in result.examples}
    assert by_id["1"].findings == 'Lungs clear, no "acute" process, heart normal.'
    assert by_id["1"].impression == ""
    assert by_id["1"].labels is None
    assert by_id["1"].text == 'FINDINGS: Lungs clear, no "acute" process, heart normal. IMPRESSION:'
    assert by_id["2"].findings == ""
    assert by_id["2"].text == "FINDINGS: IMPRESSION: Stable, compared to XXXX."
    assert "3" not in by_id
    assert result.skipped == {SKIP_EMPTY_REPORT: 1}


@pytest.mark.parametrize(
    ("projections", "missing", "frontal_only", "reason", "dropped"),
    [
        ([], frozenset(), True, SKIP_NO_IMAGES, 0),
        ([("5", "5_lat.png", "Lateral")], frozenset(), True, SKIP_NO_FRONTAL, 0),
        ([("5", "5_front.png", "Frontal")], frozenset({"5_front.png"}), True, SKIP_IMAGES_MISSING, 1),
        (
            [("5", "5_front.png", "Frontal"), ("5", "5_lat.png", "Lateral")],
            frozenset({"5_front.png", "5_lat.png"}),
            False,
            SKIP_IMAGES_MISSING,
            2,
        ),
    ],
)
def test_iu_skip_reasons(
    tmp_path: Path,
    projections: list[tuple[str, str, str]],
    missing: frozenset[str],
    frontal_only: bool,
    reason: str,
    dropped: int,
) -> None:
    reports = [report_row("5", "Heart normal.", "Normal."), report_row("6", "Lungs clear.", "Normal.")]
    iu_fixture(tmp_path, reports, [*projections, ("6", "6_front.png", "Frontal")], missing)
    result = load_iu_xray(tmp_path, frontal_only=frontal_only)
    assert [example.id for example in result.examples] == ["6"]
    assert result.skipped == {reason: 1}
    assert result.dropped_images == dropped
    assert f"{reason}=1" in result.summary()


def test_iu_partly_missing_images_keep_the_study(tmp_path: Path) -> None:
    reports = [report_row("7", "Heart normal.", "Normal.")]
    projections = [("7", "7_front.png", "Frontal"), ("7", "7_lat.png", "Lateral")]
    iu_fixture(tmp_path, reports, projections, missing=frozenset({"7_lat.png"}))
    result = load_iu_xray(tmp_path, frontal_only=False)
    assert [p.name for p in result.examples[0].image_paths] == ["7_front.png"]
    assert result.dropped_images == 1
    assert result.skipped == {}


def test_iu_custom_file_names(tmp_path: Path) -> None:
    write_csv(tmp_path / "r.csv", REPORT_HEADER, [report_row("1", "Heart normal.", "Normal.")])
    write_csv(tmp_path / "p.csv", PROJECTION_HEADER, [("1", "a.png", "Frontal")])
    png(tmp_path / "imgs" / "a.png")
    result = load_iu_xray(tmp_path, reports_csv="r.csv", projections_csv="p.csv", images_dir="imgs")
    assert result.examples[0].image_paths == (tmp_path / "imgs" / "a.png",)


def test_iu_structural_errors_name_file_and_line(tmp_path: Path) -> None:
    standard_iu(tmp_path)
    reports = tmp_path / "indiana_reports.csv"
    write_csv(reports, [c for c in REPORT_HEADER if c != "findings"], [])
    with pytest.raises(DatasetError, match=r"indiana_reports\.csv:1: missing column\(s\) findings"):
        load_iu_xray(tmp_path)

    write_csv(reports, REPORT_HEADER, [report_row("1", "A.", "B."), report_row("1", "C.", "D.")])
    with pytest.raises(DatasetError) as info:
        load_iu_xray(tmp_path)
    assert info.value.line == 3 and info.value.path == reports

    # A stray comma in an unquoted cell gives an extra column: refuse, do not shift the columns.
    reports.write_text(",".join(REPORT_HEADER) + "\n" + ",".join(report_row("1", "A.", "B.")) + ",extra\n")
    with pytest.raises(DatasetError, match=r"indiana_reports\.csv:2: more cells"):
        load_iu_xray(tmp_path)

    write_csv(reports, REPORT_HEADER, [report_row("1", "A.", "B."), report_row(" ", "C.", "D.")])
    with pytest.raises(DatasetError, match=r"indiana_reports\.csv:3: empty 'uid'"):
        load_iu_xray(tmp_path)

    reports.write_bytes(b"uid,MeSH,findings,impression\n1,normal,\xff\xfe,B.\n")
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_iu_xray(tmp_path)

    with pytest.raises(DatasetError, match="no such file"):
        load_iu_xray(tmp_path / "nowhere")


def test_iu_error_messages_never_carry_report_text(tmp_path: Path) -> None:
    standard_iu(tmp_path)
    secret = "Patient-specific finding text"
    write_csv(
        tmp_path / "indiana_reports.csv",
        REPORT_HEADER,
        [report_row("1", secret, "B."), report_row("1", secret, "B.")],
    )
    with pytest.raises(DatasetError) as info:
        load_iu_xray(tmp_path)
    assert secret not in str(info.value)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_iu_result_independent_of_row_order(seed: int) -> None:
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        rng = random.Random(seed)
        reports = [report_row(str(uid), f"Finding {uid}.", f"Impression {uid}.") for uid in (1, 2, 10)]
        projections = [
            ("10", "10_a.png", "Frontal"),
            ("2", "2_b.png", "Lateral"),
            ("2", "2_a.png", "Frontal"),
            ("1", "1_b.png", "Frontal"),
            ("1", "1_a.png", "Lateral"),
        ]
        iu_fixture(Path(first), reports, projections)
        expected = load_iu_xray(Path(first), frontal_only=False)
        rng.shuffle(reports)
        rng.shuffle(projections)
        iu_fixture(Path(second), reports, projections)
        shuffled = load_iu_xray(Path(second), frontal_only=False)
    relative = [(e.id, [p.name for p in e.image_paths], e.text) for e in shuffled.examples]
    assert relative == [(e.id, [p.name for p in e.image_paths], e.text) for e in expected.examples]


# --- JSONL --------------------------------------------------------------------------------------------


def write_jsonl(path: Path, records: Sequence[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_loads_sorted_with_sections_labels_and_images(tmp_path: Path) -> None:
    png(tmp_path / "img" / "a_front.png")
    png(tmp_path / "img" / "a_lat.png")
    png(tmp_path / "img" / "b.png")
    png(tmp_path / "img" / "c.png")
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [
            {
                "id": "b",
                "label": "Cardiomegaly",
                "text": "findings: Enlarged heart.\nimpression:  Cardiomegaly.",
                "img": "img/b.png",
            },
            {
                "id": "a",
                "label": ["Normal", " "],
                "text": "Heart size normal. Lungs clear.",
                "img": ["img/a_front.png", "img/a_lat.png"],
            },
            "",
            {
                "id": "c",
                "text": "INDICATION: cough. FINDINGS: Clear lungs. IMPRESSION: No acute disease.",
                "img": str(tmp_path / "img" / "c.png"),
            },
        ],
    )
    result = load_jsonl(path)
    assert [e.id for e in result.examples] == ["a", "b", "c"]
    a, b, c = result.examples
    assert a.image_paths == (tmp_path / "img" / "a_front.png", tmp_path / "img" / "a_lat.png")
    assert (a.findings, a.impression, a.labels) == ("Heart size normal. Lungs clear.", "", ("Normal",))
    assert (b.findings, b.impression, b.labels) == ("Enlarged heart.", "Cardiomegaly.", ("Cardiomegaly",))
    assert (c.findings, c.impression, c.labels) == ("Clear lungs.", "No acute disease.", None)
    assert result.skipped == {} and result.dropped_images == 0


def test_jsonl_images_root(tmp_path: Path) -> None:
    png(tmp_path / "elsewhere" / "x.png")
    (tmp_path / "meta").mkdir()
    path = write_jsonl(
        tmp_path / "meta" / "d.jsonl", [{"id": 1, "label": None, "text": "Heart normal.", "img": "x.png"}]
    )
    result = load_jsonl(path, images_root=tmp_path / "elsewhere")
    assert result.examples[0].id == "1"
    assert result.examples[0].image_paths == (tmp_path / "elsewhere" / "x.png",)
    assert load_jsonl(path).skipped == {SKIP_IMAGES_MISSING: 1}


def test_jsonl_skip_reasons(tmp_path: Path) -> None:
    png(tmp_path / "ok.png")
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "1", "text": "Heart normal.", "img": "ok.png"},
            {"id": "2", "text": "  \n ", "img": "ok.png"},
            {"id": "3", "text": "FINDINGS: IMPRESSION:", "img": "ok.png"},
            {"id": "4", "text": "Heart normal.", "img": []},
            {"id": "5", "text": "Heart normal.", "img": ["gone.png", "ok.png"]},
            {"id": "6", "text": "Heart normal.", "img": ["gone.png"]},
        ],
    )
    result = load_jsonl(path)
    assert [e.id for e in result.examples] == ["1", "5"]
    assert result.skipped == {SKIP_EMPTY_REPORT: 2, SKIP_NO_IMAGES: 1, SKIP_IMAGES_MISSING: 1}
    assert result.dropped_images == 2


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "2", "text": "Heart normal", "img": "ok.png"', "invalid JSON"),
        ('["2", "Heart normal"]', "JSON object"),
        ('{"id": "2", "img": "ok.png"}', "missing field 'text'"),
        ('{"id": "2", "text": "x"}', "missing field 'img'"),
        ('{"text": "x", "img": "ok.png"}', "missing field 'id'"),
        ('{"id": " ", "text": "x", "img": "ok.png"}', "'id' must be"),
        ('{"id": true, "text": "x", "img": "ok.png"}', "'id' must be"),
        ('{"id": "2", "text": ["x"], "img": "ok.png"}', "'text' must be"),
        ('{"id": "2", "text": "x", "img": 3}', "'img' must be"),
        ('{"id": "2", "text": "x", "img": "ok.png", "label": {"a": 1}}', "'label' must be"),
        ('{"id": "1", "text": "x", "img": "ok.png"}', "repeats the one on line 1"),
    ],
)
def test_jsonl_bad_line_raises_with_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    png(tmp_path / "ok.png")
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "1", "text": "Heart normal.", "img": "ok.png"}, "", bad_line])
    with pytest.raises(DatasetError, match=message) as info:
        load_jsonl(path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")


def test_jsonl_errors_never_carry_report_text(tmp_path: Path) -> None:
    secret = "Confidential narrative"
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            '{"id": "1", "text": "' + secret + '", "img": 5}',
        ],
    )
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    assert secret not in str(info.value)
    path.write_text('{"id": "1", "text": "' + secret + '" "img": "a.png"}\n')
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    assert secret not in str(info.value)


def test_jsonl_ids_sort_digits_numerically_then_text(tmp_path: Path) -> None:
    png(tmp_path / "x.png")
    ids = ["b", "10", "\u00b2", "007", "2", "A", "7"]
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": i, "text": "Heart normal.", "img": "x.png"} for i in ids])
    assert [e.id for e in load_jsonl(path).examples] == ["2", "007", "7", "10", "A", "b", "\u00b2"]


def test_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_jsonl(tmp_path / "absent.jsonl")


json_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    study_id=json_text.filter(lambda s: s.strip() != ""),
    text=json_text,
    label=st.none() | json_text | st.lists(json_text, max_size=3),
)
def test_jsonl_any_well_formed_record_loads(study_id: str, text: str, label: object) -> None:
    """Escapes, unicode and odd whitespace in any field never break the loader."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        png(root / "x.png")
        path = write_jsonl(root / "d.jsonl", [{"id": study_id, "label": label, "text": text, "img": "x.png"}])
        result = load_jsonl(path)
    findings, impression = split_report(text)
    if not findings and not impression:
        assert result.examples == () and result.skipped == {SKIP_EMPTY_REPORT: 1}
        return
    (example,) = result.examples
    assert example.id == study_id.strip()
    assert (example.findings, example.impression) == (findings, impression)
    assert example.labels is None or all(label_item.strip() for label_item in example.labels)


# --- report sections --------------------------------------------------------------------------------

WORDS = [
    "heart",
    "size",
    "normal",
    "lungs",
    "clear",
    "no",
    "pleural",
    "effusion",
    "XXXX",
    "pneumothorax",
    "2.5",
    "cm",
    "(stable)",
    "left",
    "base",
    "atelectasis",
    "x-XXXX",
    "comparison",
    "11/2010",
    "mild",
]
sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(lambda ws: " ".join(ws).capitalize() + ".")
section = st.lists(sentence, max_size=4).map(" ".join)


@given(findings=section, impression=section)
def test_text_and_split_report_round_trip(findings: str, impression: str) -> None:
    example = ReportExample("1", (Path("x.png"),), findings, impression, None)
    assert split_report(example.text) == (findings, impression)
    assert split_report(example.text.lower()) == (findings.lower(), impression.lower())


@given(text=section, spaces=st.sampled_from([" ", "\n", "\t", "  \r\n "]))
def test_split_report_without_headers_is_all_findings(text: str, spaces: str) -> None:
    assert split_report(spaces + text.replace(" ", spaces) + spaces) == (text, "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Impression: Normal.", ("", "Normal.")),
        ("Heart normal. IMPRESSION: Normal.", ("Heart normal.", "Normal.")),
        ("TECHNIQUE: PA. FINDINGS: Clear. IMPRESSION: Normal.", ("Clear.", "Normal.")),
        ("IMPRESSION: Normal. FINDINGS: Clear.", ("Clear.", "Normal.")),
        ("FINDINGS: A. IMPRESSION: B. FINDINGS: C.", ("A. C.", "B.")),
        ("Findings : Clear.", ("Clear.", "")),
        ("The findings are stable.", ("The findings are stable.", "")),
    ],
)
def test_split_report_table(text: str, expected: tuple[str, str]) -> None:
    assert split_report(text) == expected


def test_load_result_summary_has_counts_only() -> None:
    example = ReportExample("1", (Path("a.png"),), "Secret findings.", "Secret impression.", ("normal",))
    summary = LoadResult((example,), {SKIP_EMPTY_REPORT: 3}, 2).summary()
    assert summary == "1 examples; skipped: empty_report=3; dropped image files: 2"
