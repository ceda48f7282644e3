"""One ExitCode enum: every code is documented in the README, carried by the typed errors, and
reachable through the real command line."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import cli.main
from cli.main import run
from common.errors import ExitCode, SecureMedError
from tests.conftest import DEMO_BUNDLE, REPO

# Every package whose modules may define typed errors (training/export need torch: imported when present).
PACKAGES = ("common", "dicom_listener", "runtime", "deid", "appliance", "cli")


def _import_all() -> None:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if ".pb." in info.name or info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_code_is_documented_in_the_readme() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| ([A-Z]+) \|", (REPO / "README.md").read_text(), flags=re.M))
    assert rows == {str(code.value): code.name for code in ExitCode}


def test_every_typed_error_carries_an_exit_code() -> None:
    _import_all()
    errors = _subclasses(SecureMedError)
    assert len(errors) > 30  # the listener's, runtime's, deid's, delivery's, envelope's, config's
    for error in errors:
        assert isinstance(error.exit_code, ExitCode), error
    by_code = {code: {e.__name__ for e in errors if e.exit_code is code} for code in ExitCode}
    assert {"ConfigError", "DeidConfigError", "ListenerConfigError", "BundleError", "KeyFileError"} <= by_code[
        ExitCode.CONFIG
    ]
    assert {"UnsafeToDeidentify", "PreprocessError", "EnvelopeError"} <= by_code[ExitCode.DATAERR]
    assert {"ServiceUnavailable", "NotAuthorized", "TensorRTUnavailable"} <= by_code[ExitCode.UNAVAILABLE]
    assert "ReportNotFound" in by_code[ExitCode.NOINPUT]


def _not_dicom(tmp_path: Path) -> Path:
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"not dicom at all")
    return path


def _bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text("state_dir = 3\n")
    return path


@pytest.mark.parametrize(
    "code, argv",
    [
        (ExitCode.OK, lambda tmp: ["phantoms", str(tmp / "p"), "--count", "1"]),
        (ExitCode.USAGE, lambda tmp: ["no-such-command"]),
        (ExitCode.DATAERR, lambda tmp: ["generate", "--bundle", str(DEMO_BUNDLE), str(_not_dicom(tmp))]),
        (ExitCode.NOINPUT, lambda tmp: ["generate", "--bundle", str(DEMO_BUNDLE), str(tmp / "absent.dcm")]),
        (ExitCode.UNAVAILABLE, lambda tmp: ["build-engines", "--bundle", str(DEMO_BUNDLE), "--cache", str(tmp / "e")]),
        (ExitCode.CONFIG, lambda tmp: ["check-config", "--config", str(_bad_config(tmp))]),
    ],
    ids=lambda v: v.name if isinstance(v, ExitCode) else "",
)
def test_each_code_is_reachable(code: ExitCode, argv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if code is ExitCode.UNAVAILABLE:
        import onnxruntime

        if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
            pytest.skip("this onnxruntime has TensorRT: build-engines would succeed")
    try:
        status = run(argv(tmp_path))
    except SystemExit as exc:  # argparse's usage errors leave through sys.exit
        status = exc.code
    assert status == code
    if code is not ExitCode.OK:
        assert capsys.readouterr().err.strip()  # always a message


def test_an_internal_error_exits_70_naming_only_its_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise KeyError("PatientName=DOE^JOHN")  # a bug whose message quotes patient data

    monkeypatch.setattr(cli.main, "cmd_phantoms", broken)
    assert run(["phantoms", "/nonexistent"]) == ExitCode.SOFTWARE == 70
    err = capsys.readouterr().err
    assert "KeyError" in err and "DOE" not in err
