"""Loaders for real chest X-ray report-generation data a user brings (IU X-ray / OPEN-I, JSONL).

Both loaders return a `LoadResult`: the usable studies as `ReportExample`s sorted by id (ids of ASCII
digits first and numerically, so "2" comes before "10"; then the others as strings), plus counts
of what was left out and why.
The split between errors and skips:

- Structural problems mean the file is not what the loader was told it is, and raise
  `DatasetError` naming the file and line: a missing column or field, malformed JSON, a field of the
  wrong type, a blank or duplicate id, undecodable text.
- Gaps in otherwise well-formed data are skipped and counted in `LoadResult.skipped` by reason
  (the SKIP_* constants): no findings and no impression, no image listed, no frontal image when
  only frontal images are asked for, or none of the listed image files on disk. Image files missing
  from a study that still has others are dropped and counted in `LoadResult.dropped_images`.

Images are checked for existence only; they are not opened here. Report text is never logged and
never put in an exception message; only ids, file names, line numbers and counts are.

Report text is kept as the source wrote it except that whitespace runs (newlines included) become
one space. IU X-ray's 'XXXX' de-identification placeholders are kept: they are the redaction marks
of an already de-identified corpus, not PHI, and removing them would change sentence structure.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SKIP_EMPTY_REPORT = "empty_report"
SKIP_NO_IMAGES = "no_images_listed"
SKIP_NO_FRONTAL = "no_frontal_image"
SKIP_IMAGES_MISSING = "image_files_missing"

# Cells pandas and spreadsheet exports write for "no value". "None." (with the period) is real text
# in IU X-ray's comparison column, so only bare tokens count.
_MISSING_CELLS = frozenset({"", "nan", "none", "null", "n/a", "na"})

_WHITESPACE = re.compile(r"\s+")
_HEADER = re.compile(r"\b(findings|impression)\s*:", re.IGNORECASE)

IU_REPORT_COLUMNS = ("uid", "MeSH", "findings", "impression")
IU_PROJECTION_COLUMNS = ("uid", "filename", "projection")


class DatasetError(Exception):
    """A dataset file is malformed; the message names the file and, where known, the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class ReportExample:
    """One study: its images (frontal first), its report sections and the source's free labels.

    `labels` is None when the source gives none; otherwise the labels as the source spells them
    (IU X-ray: the MeSH terms split on ';'; JSONL: the `label` field).
    """

    id: str
    image_paths: tuple[Path, ...]
    findings: str
    impression: str
    labels: tuple[str, ...] | None = None

    @property
    def text(self) -> str:
        """The model's target, "FINDINGS: <findings> IMPRESSION: <impression>".

        Both headers are always present so the model always learns one layout; an empty section
        leaves its header alone instead of leaving a double space.
        """
        findings = f"FINDINGS: {self.findings}" if self.findings else "FINDINGS:"
        impression = f"IMPRESSION: {self.impression}" if self.impression else "IMPRESSION:"
        return f"{findings} {impression}"


@dataclass(frozen=True)
class LoadResult:
    """Loaded examples (sorted by id) and what was left out: skipped studies per reason, dropped files."""

    examples: tuple[ReportExample, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    dropped_images: int = 0

    def summary(self) -> str:
        """One log-safe line: counts only, no ids and no text."""
        reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(self.skipped.items())) or "none"
        return f"{len(self.examples)} examples; skipped: {reasons}; dropped image files: {self.dropped_images}"


def clean_text(value: str | None) -> str:
    """Collapse whitespace runs to one space and strip; a missing-value marker ('', 'nan', ...) gives ''."""
    if value is None:
        return ""
    text = _WHITESPACE.sub(" ", value).strip()
    return "" if text.casefold() in _MISSING_CELLS else text


def split_report(text: str) -> tuple[str, str]:
    """(findings, impression) of a free-text report, headers matched case-insensitively.

    - No "FINDINGS:"/"IMPRESSION:" header: the whole text is findings.
    - A FINDINGS header: findings is the text after it up to an IMPRESSION header (or the end);
      text before the first header (indication, technique, comparison) is dropped.
    - Only an IMPRESSION header: the text before it is findings.
    Repeated headers have their sections joined in order. Whitespace is collapsed as in `clean_text`,
    except that a section saying 'none' or 'n/a' is kept as written (it is report text, not a cell).
    """
    matches = list(_HEADER.finditer(text))
    if not matches:
        return _squash(text), ""
    sections: dict[str, list[str]] = {"findings": [], "impression": []}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        sections[match.group(1).lower()].append(text[match.end() : end])
    if not sections["findings"]:
        sections["findings"].append(text[: matches[0].start()])
    return _squash(" ".join(sections["findings"])), _squash(" ".join(sections["impression"]))


def _squash(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _sort_key(example: ReportExample) -> tuple[int, int, str]:
    return (0, int(example.id), example.id) if example.id.isascii() and example.id.isdigit() else (1, 0, example.id)


def _finish(examples: Iterable[ReportExample], skipped: Counter[str], dropped: int, source: Path) -> LoadResult:
    result = LoadResult(tuple(sorted(examples, key=_sort_key)), dict(skipped), dropped)
    log.info("loaded %s: %s", source.name, result.summary())
    return result


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV with a header as (line number, row); raises DatasetError on structure problems."""
    if not path.is_file():
        raise DatasetError(path, "no such file")
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, strict=True)
            missing = [column for column in required if column not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(path, f"missing column(s) {', '.join(missing)}", line=1)
            line = reader.line_num + 1
            for row in reader:
                if None in row:  # more cells than header columns: a quoting problem, not data
                    raise DatasetError(path, "more cells than header columns", line=line)
                rows.append((line, row))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise DatasetError(path, f"malformed CSV ({exc})", line=line) from exc
    return rows


def _required_cell(path: Path, line: int, row: Mapping[str, str | None], column: str) -> str:
    value = clean_text(row.get(column))
    if not value:
        raise DatasetError(path, f"empty {column!r}", line=line)
    return value


def load_iu_xray(
    root: Path,
    *,
    reports_csv: str = "indiana_reports.csv",
    projections_csv: str = "indiana_projections.csv",
    images_dir: str = "images/images_normalized",
    frontal_only: bool = True,
) -> LoadResult:
    """Load the Kaggle IU X-ray (OPEN-I) layout under `root`.

    `reports_csv` has columns uid, MeSH, Problems, image, indication, comparison, findings, impression
    (uid, MeSH, findings and impression are required); `projections_csv` has uid, filename and
    projection ("Frontal" or "Lateral"), and filenames are relative to `root / images_dir`.
    Images are ordered Frontal, then Lateral, then any other projection, each by file name; with
    `frontal_only` only the Frontal ones are kept. Labels are the MeSH terms (split on ';'), None when
    the cell is empty. See the module docstring for what raises and what is skipped.
    """
    root = Path(root)
    reports_path = root / reports_csv
    projections_path = root / projections_csv
    image_root = root / images_dir

    images: dict[str, list[tuple[int, str, Path]]] = defaultdict(list)
    for line, row in _read_csv(projections_path, IU_PROJECTION_COLUMNS):
        uid = _required_cell(projections_path, line, row, "uid")
        filename = _required_cell(projections_path, line, row, "filename")
        projection = clean_text(row.get("projection")).casefold()
        rank = {"frontal": 0, "lateral": 1}.get(projection, 2)
        images[uid].append((rank, filename, image_root / filename))

    examples: list[ReportExample] = []
    skipped: Counter[str] = Counter()
    dropped = 0
    seen: dict[str, int] = {}
    for line, row in _read_csv(reports_path, IU_REPORT_COLUMNS):
        uid = _required_cell(reports_path, line, row, "uid")
        if uid in seen:
            raise DatasetError(reports_path, f"uid {uid} repeats the one on line {seen[uid]}", line=line)
        seen[uid] = line
        findings = clean_text(row.get("findings"))
        impression = clean_text(row.get("impression"))
        if not findings and not impression:
            skipped[SKIP_EMPTY_REPORT] += 1
            continue
        listed = sorted(images.get(uid, ()))
        if not listed:
            skipped[SKIP_NO_IMAGES] += 1
            continue
        if frontal_only:
            listed = [entry for entry in listed if entry[0] == 0]
            if not listed:
                skipped[SKIP_NO_FRONTAL] += 1
                continue
        present = tuple(path for _, _, path in listed if path.is_file())
        dropped += len(listed) - len(present)
        if not present:
            skipped[SKIP_IMAGES_MISSING] += 1
            continue
        mesh = tuple(term for term in (clean_text(part) for part in (row.get("MeSH") or "").split(";")) if term)
        examples.append(ReportExample(uid, present, findings, impression, mesh or None))
    return _finish(examples, skipped, dropped, reports_path)


def _json_labels(path: Path, line: int, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        label = clean_text(value)
        return (label,) if label else None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        labels = tuple(label for label in (clean_text(item) for item in value) if label)
        return labels or None
    raise DatasetError(path, "'label' must be a string, a list of strings or null", line=line)


def _json_images(path: Path, line: int, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DatasetError(path, "'img' must be a string or a list of strings", line=line)
    return tuple(item.strip() for item in value if item.strip())


def load_jsonl(path: Path, images_root: Path | None = None) -> LoadResult:
    """Load a JSONL file with one study per line: {"id", "label", "text", "img"}.

    `id` is a non-blank string or an integer; `text` is the report, split with `split_report`;
    `img` is an image path or a list of them (frontal first, order kept), relative paths resolved
    against `images_root` or else the JSONL file's folder; `label` is optional (string, list of
    strings or null). Blank lines are ignored. Any other malformed line raises DatasetError with
    its line number; see the module docstring for what is skipped.
    """
    path = Path(path)
    base = Path(images_root) if images_root is not None else path.parent
    if not path.is_file():
        raise DatasetError(path, "no such file")

    examples: list[ReportExample] = []
    skipped: Counter[str] = Counter()
    dropped = 0
    seen: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise DatasetError(path, f"invalid JSON at column {exc.colno}", line=line) from exc
                if not isinstance(record, dict):
                    raise DatasetError(path, "a line must be a JSON object", line=line)
                for key in ("id", "text", "img"):
                    if key not in record:
                        raise DatasetError(path, f"missing field {key!r}", line=line)
                raw_id = record["id"]
                if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
                    raise DatasetError(path, "'id' must be a non-blank string or an integer", line=line)
                study_id = str(raw_id).strip()
                if study_id in seen:
                    raise DatasetError(path, f"id {study_id} repeats the one on line {seen[study_id]}", line=line)
                seen[study_id] = line
                if not isinstance(record["text"], str):
                    raise DatasetError(path, "'text' must be a string", line=line)
                labels = _json_labels(path, line, record.get("label"))
                names = _json_images(path, line, record["img"])

                findings, impression = split_report(record["text"])
                if not findings and not impression:
                    skipped[SKIP_EMPTY_REPORT] += 1
                    continue
                if not names:
                    skipped[SKIP_NO_IMAGES] += 1
                    continue
                listed = [base / name for name in names]  # an absolute name replaces base
                present = tuple(image for image in listed if image.is_file())
                dropped += len(listed) - len(present)
                if not present:
                    skipped[SKIP_IMAGES_MISSING] += 1
                    continue
                examples.append(ReportExample(study_id, present, findings, impression, labels))
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not UTF-8 text (byte {exc.start})") from exc
    return _finish(examples, skipped, dropped, path)
