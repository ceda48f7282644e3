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
    result = subprocess.run(
        [sys.executable, "-m", "cli", "deid-text"], input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 3
    assert "Hargreave" not in out[0]["text"] and "48213377" not in out[0]["text"] and "03/04/2021" not in out[0]["text"]
    assert {e["type"] for e in out[0]["entities"]} >= {"PERSON", "DATE"}
    assert out[1]["text"] == lines[1]["text"] and out[1]["entities"] == []
    assert "error" in out[2]


def test_deid_stores_records_encrypted_and_writes_no_input_name(tmp_path: Path, capsys) -> None:
    """--store: the re-identification records go only into the encrypted store; outputs are named by
    their new UID with --rename (an input name may carry patient data)."""
    from deid import MappingStore, create_key_file
    from deid.testing import make_image, planted_uid, to_bytes

    src = tmp_path / "in"
    src.mkdir()
    (src / "Doe_Jane.dcm").write_bytes(to_bytes(make_image()))
    burned = make_image(sop_uid=planted_uid(77))
    burned.BurnedInAnnotation = "YES"  # refused: Clean Pixel Data is off in this config
    (src / "burned.dcm").write_bytes(to_bytes(burned))
    config = tmp_path / "deid.toml"
    config.write_text("[deid]\nretain_long_modified_dates = true\n")
    key = create_key_file(tmp_path / "store.key")
    out = tmp_path / "out"
    code = run(
        [
            "deid",
            str(src),
            str(out),
            "--secret-file",
            str(_secret(tmp_path)),
            "--config",
            str(config),
            "--store",
            str(tmp_path / "map.sqlite"),
            "--store-key",
            str(key),
            "--rename",
        ]
    )
    captured = capsys.readouterr()
    assert code == 65  # one input refused
    summary = json.loads(captured.out)
    assert summary["counts"] == {"written": 1, "refused": 1}
    assert "UnsafeToDeidentify" in summary["refused"][0]["reason"]
    (written,) = out.iterdir()
    assert written.name.startswith("2.25.")  # the summary echoes the input paths the user gave, nothing more
    assert "Doe" not in captured.err and "Jane" not in json.dumps(summary["written"][0]["output"])
    ds = pydicom.dcmread(written)
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientName != "Doe^Jane"
    with MappingStore.open(tmp_path / "map.sqlite", key) as store:
        record = store.get(ds.SOPInstanceUID)
    assert record is not None and record.original_patient_id == "PID-7731" and record.date_shift_days is not None


def test_deid_configuration_errors_name_the_key(tmp_path: Path, capsys) -> None:
    src = tmp_path / "x.dcm"
    config = tmp_path / "deid.toml"
    config.write_text("[deid]\nretain_uid = true\n[deid.pixels]\nocr_worker = 2\n")
    secret = _secret(tmp_path)
    assert run(["deid", str(src), str(tmp_path / "o"), "--secret-file", str(secret), "--config", str(config)]) == 78
    err = capsys.readouterr().err
    assert "deid.retain_uid: unknown option" in err and "deid.pixels.ocr_worker: unknown option" in err
    secret.chmod(0o644)
    assert run(["deid", str(src), str(tmp_path / "o"), "--secret-file", str(secret)]) == 78
    assert "site.secret" in capsys.readouterr().err
    assert (
        run(
            [
                "deid",
                str(src),
                str(tmp_path / "o"),
                "--secret-file",
                str(_secret(tmp_path)),
                "--store",
                str(tmp_path / "m.sqlite"),
            ]
        )
        == 78
    )
