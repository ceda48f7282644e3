"""`securemed deid` and `securemed deid-text` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom

from cli.main import run
from tests.conftest import REPO
from training.phantoms import make_phantom


def _secret(tmp_path: Path) -> Path:
    path = tmp_path / "site.secret"
    path.write_text(os.urandom(32).hex())
    path.chmod(0o600)
    return path


def test_deid_tree_keeps_layout_and_lists_refused_files(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in"
    (src / "a" / "b").mkdir(parents=True)
    names = []
    for i, rel in enumerate(["a/one.dcm", "a/b/two.dcm"]):
        ds = make_phantom(50 + i).dataset
        names.append(str(ds.PatientName))
        ds.save_as(src / rel, enforce_file_format=True)
    (src / "a" / "notes.txt").write_text("not dicom")
    out = tmp_path / "out"
    code = run(["deid", str(src), str(out), "--secret-file", str(_secret(tmp_path))])
    summary = json.loads(capsys.readouterr().out)
    assert code == 65  # one input could not be de-identified
    assert summary["counts"] == {"written": 2, "refused": 1}
    assert summary["refused"][0]["input"] == "a/notes.txt"
    assert sorted(w["output"] for w in summary["written"]) == ["a/b/two.dcm", "a/one.dcm"]
    for w, name in zip(sorted(summary["written"], key=lambda w: w["input"]), names):
        data = (out / w["output"]).read_bytes()
        ds = pydicom.dcmread(out / w["output"])
        assert ds.PatientIdentityRemoved == "YES"
        assert name.split("^")[0].encode() not in data
    assert not (out / "a" / "notes.txt").exists()


def test_deid_text_redacts_json_lines_in_order() -> None:
    lines = [
        {"text": "Discussed with Dr. Hargreave on 03/04/2021, MRN 48213377."},
        {"text": "No pneumothorax. Right lower lobe consolidation."},
        "not json",
    ]
    stdin = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n"
    result = subprocess.run([sys.executable, "-m", "cli", "deid-text"], input=stdin, capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert "Hargreave" not in out[0]["text"] and "48213377" not in out[0]["text"] and "03/04/2021" not in out[0]["text"]
    assert {e["type"] for e in out[0]["entities"]} >= {"PERSON", "DATE"}
    assert out[1]["text"] == lines[1]["text"] and out[1]["entities"] == []
    assert "error" in out[2]
