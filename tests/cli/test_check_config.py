"""`securemed check-config` rejects everything the service would reject, naming the dotted key: every
`[deid.options]` and `[deid.pixels]` key with a typo, and a bad value of each kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.devsetup import init_dev
from cli.main import run
from common.errors import ExitCode
from deid.options import DeidOptions
from deid.pixels.settings import PixelCleanSettings
from tests.conftest import DEMO_BUNDLE


@pytest.fixture(scope="module")
def dev_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_dev(tmp_path_factory.mktemp("dev"), dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE)


def _with_lines(config: Path, table: str, lines: list[str], tmp_path: Path) -> Path:
    text = config.read_text()
    header = f"[{table}]"
    assert header in text
    out = tmp_path / "appliance.toml"
    before, after = text.split(header, 1)
    first, rest = after.split("\n", 1)
    out.write_text(before + header + first + "\n" + "\n".join(lines) + "\n" + rest)
    return out


def _check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["check-config", "--config", str(config)])
    return code, capsys.readouterr().err


def test_the_dev_config_passes(dev_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check-config", "--config", str(dev_config)]) == ExitCode.OK
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(DeidOptions)])
def test_a_typo_in_any_deid_option_is_named(
    field: str, dev_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _with_lines(dev_config, "deid.options", [f"{field}_typo = true"], tmp_path)
    code, err = _check(config, capsys)
    assert code == ExitCode.CONFIG == 78
    assert f"deid.options.{field}_typo: unknown option" in err


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(PixelCleanSettings)])
def test_a_typo_in_any_pixel_setting_is_named(
    field: str, dev_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _with_lines(dev_config, "deid.pixels", [f"{field[:-1]} = 1"], tmp_path)
    code, err = _check(config, capsys)
    assert code == ExitCode.CONFIG
    assert f"deid.pixels.{field[:-1]}: unknown option" in err


@pytest.mark.parametrize(
    "table, line, key",
    [
        ("deid.options", 'retain_uids = "yes"', "deid.options.retain_uids"),
        ("deid.options", "date_shift_max_days = 5", "deid.options.date_shift_min_days"),
        (
            "deid.options",
            'safe_private_allow_list = [{creator = "X", group = 8}]',
            "deid.options.safe_private_allow_list[0].element",
        ),
        ("deid.pixels", "max_rounds = 0", "deid.pixels.max_rounds"),
        ("deid.pixels", "layer_min_confidence = 101", "deid.pixels.layer_min_confidence"),
        ("deid.pixels", "banner_zones = [{y0 = 0.0}]", "deid.pixels.banner_zones[0]"),
        ("dicom", 'allowed_calling_aets = ["OK", "BAD\\\\AE"]', "dicom.allowed_calling_aets[1]"),
    ],
)
def test_bad_values_are_named_by_dotted_key(
    table: str, line: str, key: str, dev_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = dev_config.read_text()
    if table == "dicom":  # replace the existing key rather than define it twice
        text = text.replace('allowed_calling_aets = ["DEVPACS"]', line)
        config = tmp_path / "appliance.toml"
        config.write_text(text)
    else:
        config = _with_lines(dev_config, table, [line], tmp_path)
    code, err = _check(config, capsys)
    assert code == ExitCode.CONFIG
    assert key in err, err


@pytest.mark.parametrize(
    "line, message",
    [
        ('injection_modle = "x"', "ids.injection_modle: unknown key"),
        ("injection_model = 1", "ids.injection_model: expected a path string"),
        ('injection_model = "no-classifier-here"', "ids.injection_model: no injection classifier (manifest.json)"),
    ],
)
def test_bad_ids_keys_are_named_and_exit_78(
    line: str, message: str, dev_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = dev_config.read_text()
    start = text.index("[ids]")
    end = text.index("\n\n", start)
    config = tmp_path / "appliance.toml"
    config.write_text(text[:start] + "[ids]\n" + line + text[end:])
    code, err = _check(config, capsys)
    assert code == ExitCode.CONFIG
    assert message in err, err


def test_devsetup_names_the_classifier_only_when_it_exists(tmp_path: Path) -> None:
    model = tmp_path / "ids-injection"
    absent = init_dev(tmp_path / "a", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, injection_model=model)
    assert 'injection_model = ""' in absent.read_text()
    model.mkdir()
    (model / "manifest.json").write_text("{}")
    present = init_dev(tmp_path / "b", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, injection_model=model)
    assert f'injection_model = "{model.resolve()}"' in present.read_text()
