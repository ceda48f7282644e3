"""Phantom sets: per-index seeds, writing a set with its manifest, reading a manifest back."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from training.findings import FINDINGS
from training.phantoms.base import _NAMESPACE, MANIFEST_KEYS, MANIFEST_NAME, ManifestError, PhantomError
from training.phantoms.dicom import Phantom, make_phantom


def phantom_seed(set_seed: int, index: int) -> int:
    """Seed of phantom `index` of the set `set_seed`; distinct sets do not share phantoms."""
    state = np.random.SeedSequence([_NAMESPACE, int(set_seed), int(index)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def manifest_entry(phantom: Phantom, item_id: str, file: str) -> dict[str, Any]:
    """The manifest line of one phantom (keys: MANIFEST_KEYS plus seed and details)."""
    ds = phantom.dataset
    return {
        "id": item_id,
        "file": file,
        "findings": phantom.findings.to_dict(),
        "labels": [int(v) for v in phantom.findings.labels()],
        "report": phantom.report.text,
        "findings_text": phantom.report.findings,
        "impression_text": phantom.report.impression,
        "accession": str(ds.AccessionNumber),
        "study_uid": str(ds.StudyInstanceUID),
        "seed": phantom.seed,
        "details": phantom.details.to_dict(),
    }


def iter_phantoms(n: int, seed: int, **kwargs: Any) -> Iterator[Phantom]:
    """The n phantoms of the set `seed`, in index order (see write_phantom_set)."""
    for i in range(n):
        yield make_phantom(phantom_seed(seed, i), **kwargs)


def write_phantom_set(out_dir: Path | str, n: int, seed: int, **kwargs: Any) -> Path:
    """Write n phantoms as out_dir/<index>.dcm plus out_dir/manifest.jsonl; returns out_dir.

    kwargs go to make_phantom (e.g. rows=256, cols=256); unset options vary per phantom, giving a
    mix of CR/DX, MONOCHROME1/2, 12..16 bits and a few sizes. The manifest has one JSON object
    per line with MANIFEST_KEYS, "labels" aligned with FINDINGS; it is written last, atomically,
    so a manifest present means a complete set.
    """
    if n < 0:
        raise PhantomError("n must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(max(n - 1, 0))))
    lines = []
    for i, phantom in enumerate(iter_phantoms(n, seed, **kwargs)):
        item_id = f"{i:0{width}d}"
        name = f"{item_id}.dcm"
        phantom.dataset.save_as(out / name, enforce_file_format=True)
        lines.append(json.dumps(manifest_entry(phantom, item_id, name), separators=(",", ":")))
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.replace(tmp, out / MANIFEST_NAME)
    return out


def load_phantom_manifest(directory: Path | str) -> list[dict[str, Any]]:
    """Read directory/manifest.jsonl; raises ManifestError when missing or malformed."""
    path = Path(directory) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(entry, dict):
            raise ManifestError(f"{path}:{number}: not a JSON object")
        missing = [k for k in MANIFEST_KEYS if k not in entry]
        if missing:
            raise ManifestError(f"{path}:{number}: missing keys {missing}")
        if len(entry["labels"]) != len(FINDINGS):
            raise ManifestError(f"{path}:{number}: labels must have {len(FINDINGS)} values")
        entries.append(entry)
    return entries
