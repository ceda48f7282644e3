"""Config: strict, typed, every problem named by its dotted key, never a silent default."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.config import ConfigError, load_config, parse_config

BASE = {
    "state_dir": "state",
    "dicom": {"ae_title": "SECUREMED", "port": 11112, "allowed_calling_aets": ["DEVPACS"]},
    "model": {"bundle": "models/demo"},
    "deid": {"secret_file": "keys/deid.secret", "mapping_key_file": "keys/mapping.key"},
    "signing": {"key_file": "keys/signing.pem", "key_id": "appliance-1"},
    "delivery": {"tls": {"cert_file": "pki/server.pem", "key_file": "pki/server.key", "ca_file": "pki/ca.pem"}},
    "routing": {"default_recipients": ["dr-a"]},
    "clinicians": [{"id": "dr-a", "public_key_file": "clinicians/dr-a.pub"}],
}


def mutate(path: str, value: object) -> dict:
    raw = copy.deepcopy(BASE)
    node = raw
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


DELETE = object()


def test_valid_config_resolves_relative_paths(tmp_path: Path) -> None:
    cfg = parse_config(BASE, base=tmp_path)
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.delivery.tls.ca_file == tmp_path / "pki/ca.pem"
    assert cfg.dicom.allowed_calling_aets == ("DEVPACS",)
    assert cfg.delivery.port == 50051  # documented default
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.state_dir = Path("/")  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("dicom.port", "11112", "dicom.port: expected an integer"),
        ("dicom.port", 70000, "dicom.port: 70000 is not a TCP port"),
        ("dicom.ae_title", "WAY_TOO_LONG_AE_TITLE", "dicom.ae_title:"),
        ("dicom.ae_title", "BAD\\AE", "dicom.ae_title:"),
        ("dicom.allowed_calling_aets", "DEVPACS", "dicom.allowed_calling_aets: expected a list"),
        ("dicom.colour", "blue", "dicom.colour: unknown key"),
        ("dicom.quiet_period_s", True, "dicom.quiet_period_s: expected a number"),
        ("model.precision", "fp64", "model.precision: must be 'fp32', 'int8' or 'fp16'"),
        ("model.precision", "FP16", "model.precision: must be"),
        ("model.allow_spinning", "no", "model.allow_spinning: expected true or false"),
        ("model.allow_spinning", 0, "model.allow_spinning: expected true or false"),
        ("model.providers", "CPUExecutionProvider", "model.providers: expected a list"),
        ("model.providers", ["CUDA"], "model.providers[0]: 'CUDA' is not an execution provider"),
        (
            "model.providers",
            ["CPUExecutionProvider", "ROCMExecutionProvider"],
            "model.providers[1]: 'ROCMExecutionProvider' is not an execution provider",
        ),
        (
            "model.providers",
            ["CUDAExecutionProvider", "CUDAExecutionProvider"],
            "model.providers[1]: 'CUDAExecutionProvider' is listed twice",
        ),
        ("model.providers", [3], "model.providers[0]: expected a string"),
        ("model.device_id", -1, "model.device_id: must be >= 0"),
        ("model.device_id", "0", "model.device_id: expected an integer"),
        ("model.engine_cache_dir", 5, "model.engine_cache_dir: expected a path string"),
        ("model.engine_cache_dir", "", "model.engine_cache_dir: expected a path string"),
        ("model.batch_window_ms", -1, "model.batch_window_ms: must be between 0 and 5000"),
        ("model.batch_window_ms", 5001, "model.batch_window_ms: must be between 0 and 5000"),
        ("model.batch_window_ms", 0.5, "model.batch_window_ms: expected an integer"),
        ("model.workers", -1, "model.workers: must be between 0 and 64"),
        ("model.workers", 65, "model.workers: must be between 0 and 64"),
        ("model.workers", True, "model.workers: expected an integer"),
        ("model.max_batch", 0, "model.max_batch: must be >= 1"),
        ("model.bundle", DELETE, "model.bundle: missing"),
        ("signing.key_id", "Has Space", "signing.key_id:"),
        ("delivery.tls", DELETE, "delivery.tls: missing"),
        ("delivery.tls.ca_file", 3, "delivery.tls.ca_file: expected a path string"),
        ("routing.default_recipients", ["dr-z"], "routing.default_recipients[0]: 'dr-z' is not a configured clinician"),
        ("clinicians.0.id", "Dr A", "clinicians[0].id:"),
        ("clinicians.0.extra", 1, "clinicians[0].extra: unknown key"),
        ("log_level", "LOUD", "log_level:"),
        ("surprise", {}, "surprise: unknown key"),
    ],
)
def test_each_problem_names_its_key(path: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(mutate(path, value))
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


def test_all_problems_are_reported_at_once() -> None:
    raw = mutate("dicom.port", "x")
    raw["model"]["precision"] = "fp64"
    raw["nonsense"] = 1
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    keys = {p.split(":")[0] for p in info.value.problems}
    assert {"dicom.port", "nonsense"} <= keys


def test_toml_syntax_error_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("state_dir = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_missing_referenced_files_are_named(tmp_path: Path) -> None:
    import tomllib  # noqa: F401  (python >= 3.11 here)

    lines = [
        'state_dir = "state"',
        "[dicom]",
        'allowed_calling_aets = ["DEVPACS"]',
        "[model]",
        'bundle = "nowhere"',
        "[deid]",
        'secret_file = "s"',
        'mapping_key_file = "m"',
        "[signing]",
        'key_file = "k"',
        'key_id = "a1"',
        "[delivery.tls]",
        'cert_file = "c"',
        'key_file = "k"',
        'ca_file = "ca"',
        "[routing]",
        'default_recipients = ["dr-a"]',
        "[[clinicians]]",
        'id = "dr-a"',
        'public_key_file = "p"',
    ]
    path = tmp_path / "a.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    keys = {p.split(":")[0] for p in info.value.problems}
    assert {
        "deid.secret_file",
        "signing.key_file",
        "delivery.tls.ca_file",
        "clinicians[0].public_key_file",
        "model.bundle",
    } <= keys
    assert load_config(path, check_files=False).model.bundle == tmp_path / "nowhere"


@settings(max_examples=80, deadline=None)
@given(
    key=st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12),
    section=st.sampled_from(["", "dicom", "model", "deid", "signing", "delivery", "routing"]),
)
def test_any_unknown_key_is_rejected_by_name(key: str, section: str) -> None:
    raw = copy.deepcopy(BASE)
    target = raw[section] if section else raw
    if key in target or (section == "deid" and key in ("options", "pixels")):
        return
    if section == "" and key in ("log_level", "clinicians", "decode", "ids"):
        return
    known = {
        "dicom": {"bind", "quiet_period_s", "tls"},
        "model": {
            "precision",
            "threads",
            "max_batch",
            "allow_spinning",
            "providers",
            "device_id",
            "engine_cache_dir",
            "batch_window_ms",
            "workers",
        },
        "delivery": {"bind", "port", "grace_s", "max_workers"},
    }
    if key in known.get(section, set()):
        return
    target[key] = 1
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert f"{section + '.' if section else ''}{key}: unknown key" in info.value.problems


def test_model_keys_reach_the_session_settings(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["model"].update(
        precision="fp16",
        threads=2,
        max_batch=4,
        allow_spinning=False,
        device_id=1,
        providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        engine_cache_dir="trt-cache",
        batch_window_ms=120,
        workers=6,
    )
    model = parse_config(raw, base=tmp_path).model
    assert model.precision == "fp16" and model.batch_window_ms == 120 and model.worker_count == 6
    s = model.session_settings()
    assert (s.intra_op_threads, s.allow_spinning, s.device_id, s.max_batch) == (2, False, 1, 4)
    assert s.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert s.engine_cache_dir == tmp_path / "trt-cache"  # relative to the config file, like every path


def test_model_defaults_are_documented_values(tmp_path: Path) -> None:
    model = parse_config(BASE, base=tmp_path).model
    assert (model.allow_spinning, model.providers, model.device_id, model.engine_cache_dir) == (True, (), 0, None)
    assert (model.batch_window_ms, model.workers, model.max_batch) == (50, 0, 8)
    assert model.worker_count == model.max_batch  # workers = 0 means one worker per batch slot
    assert model.session_settings().providers == ()  # every available provider, TensorRT -> CUDA -> CPU


@settings(max_examples=60, deadline=None)
@given(window=st.integers(-10_000, 10_000), workers=st.integers(-100, 200), device=st.integers(-5, 16))
def test_numeric_model_keys_are_accepted_exactly_in_range(window: int, workers: int, device: int) -> None:
    raw = copy.deepcopy(BASE)
    raw["model"].update(batch_window_ms=window, workers=workers, device_id=device)
    expected = {
        key
        for key, ok in (
            ("model.batch_window_ms", 0 <= window <= 5000),
            ("model.workers", 0 <= workers <= 64),
            ("model.device_id", device >= 0),
        )
        if not ok
    }
    try:
        parse_config(raw)
        keys: set[str] = set()
    except ConfigError as exc:
        keys = {p.split(":")[0] for p in exc.problems}
    assert keys == expected


@settings(max_examples=40, deadline=None)
@given(
    providers=st.lists(
        st.sampled_from(
            [
                "TensorrtExecutionProvider",
                "CUDAExecutionProvider",
                "CPUExecutionProvider",
                "OpenVINOExecutionProvider",
                "cpu",
            ]
        ),
        max_size=5,
    )
)
def test_provider_lists_are_accepted_iff_known_and_distinct(providers: list[str]) -> None:
    known = {"TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"}
    raw = mutate("model.providers", providers)
    valid = all(p in known for p in providers) and len(set(providers)) == len(providers)
    if valid:
        assert parse_config(raw).model.providers == tuple(providers)
    else:
        with pytest.raises(ConfigError) as info:
            parse_config(raw)
        assert all(p.startswith("model.providers[") for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("max_associations", 0, "dicom.max_associations: must be >= 1"),
        ("max_pdu", 100, "dicom.max_pdu: must be 0 (unlimited) or >= 4096"),
        ("dimse_timeout_s", 0, "dicom.dimse_timeout_s: must be > 0"),
        ("network_timeout_s", -1.0, "dicom.network_timeout_s: must be a finite number >= 0"),
        ("quiet_period_s", -1.0, "dicom.quiet_period_s: must be a finite number >= 0"),
    ],
)
def test_listener_limits_are_checked_by_the_listeners_rules(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(mutate(f"dicom.{key}", value))
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


def test_listener_limits_reach_the_listener_and_default_to_its_own(tmp_path: Path) -> None:
    from dicom_listener import ListenerSettings

    defaults = parse_config(BASE).dicom.listener_settings(tmp_path)
    plain = ListenerSettings(ae_title="SECUREMED", allowed_calling_aets=frozenset({"DEVPACS"}), spool_dir=tmp_path)
    assert dataclasses.replace(defaults, quiet_period_s=plain.quiet_period_s) == plain
    raw = mutate("dicom.max_associations", 3)
    raw["dicom"].update(network_timeout_s=5.0, dimse_timeout_s=7.0, acse_timeout_s=2.0, max_pdu=0)
    settings = parse_config(raw).dicom.listener_settings(tmp_path)
    assert (settings.max_associations, settings.network_timeout_s, settings.dimse_timeout_s) == (3, 5.0, 7.0)
    assert (settings.acse_timeout_s, settings.max_pdu) == (2.0, 0)


def test_decode_table_defaults_to_the_decoders_own_settings() -> None:
    from runtime.decode import DecodeSettings

    assert parse_config(BASE).decode.settings() == DecodeSettings()
    raw = copy.deepcopy(BASE)
    raw["decode"] = {"max_memory_mib": 256, "timeout_s": 5, "workers": 3}
    settings = parse_config(raw).decode.settings()
    assert settings == DecodeSettings(max_memory_bytes=256 << 20, timeout_s=5.0, workers=3)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("max_memory_mib", 8, "decode.max_memory_mib: must be between 16 and 65536"),
        ("max_memory_mib", "512", "decode.max_memory_mib: expected an integer"),
        ("timeout_s", 0, "decode.timeout_s: must be > 0"),
        ("timeout_s", 7200.0, "decode.timeout_s: must be > 0 and <= 3600"),
        ("workers", 0, "decode.workers: must be between 1 and 16"),
        ("max_memory_bytes", 1, "decode.max_memory_bytes: unknown key"),
    ],
)
def test_decode_keys_are_checked_and_unknown_ones_are_errors(key: str, value: object, message: str) -> None:
    raw = copy.deepcopy(BASE)
    raw["decode"] = {key: value}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


def test_listener_hostile_input_limits_reach_the_listener(tmp_path: Path) -> None:
    from dicom_listener import ListenerSettings

    defaults = parse_config(BASE).dicom.listener_settings(tmp_path)
    plain = ListenerSettings(ae_title="SECUREMED", allowed_calling_aets=frozenset({"DEVPACS"}), spool_dir=tmp_path)
    for key in ("max_connections", "max_dataset_bytes", "max_inflated_bytes", "max_pixel_bytes", "min_free_bytes"):
        assert getattr(defaults, key) == getattr(plain, key), key
    raw = copy.deepcopy(BASE)
    raw["dicom"].update(
        max_connections=40,
        max_dataset_bytes=1 << 20,
        max_inflated_bytes=2 << 20,
        max_pixel_bytes=3 << 20,
        min_free_bytes=0,
    )
    settings = parse_config(raw).dicom.listener_settings(tmp_path)
    assert (settings.max_connections, settings.connection_limit) == (40, 40)
    assert (settings.max_dataset_bytes, settings.max_inflated_bytes, settings.max_pixel_bytes) == (
        1 << 20,
        2 << 20,
        3 << 20,
    )
    assert settings.min_free_bytes == 0


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("max_connections", 5, "dicom.max_connections: must be 0 (automatic) or >= max_associations"),
        ("max_dataset_bytes", 10, "dicom.max_dataset_bytes: must be an integer >= 1024"),
        ("max_pixel_bytes", 0, "dicom.max_pixel_bytes: must be an integer >= 1024"),
        ("min_free_bytes", -1, "dicom.min_free_bytes: must be an integer >= 0"),
        ("min_free_bytes", "1G", "dicom.min_free_bytes: expected an integer"),
    ],
)
def test_listener_hostile_input_limits_are_checked(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(mutate(f"dicom.{key}", value))
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


# ---- [ids] ------------------------------------------------------------------------------------------


def test_ids_table_defaults_to_rules_only_and_resolves_the_model_path(tmp_path: Path) -> None:
    assert parse_config(BASE, base=tmp_path).ids.injection_model is None
    assert parse_config({**BASE, "ids": {"injection_model": ""}}, base=tmp_path).ids.injection_model is None
    cfg = parse_config({**BASE, "ids": {"injection_model": "models/ids"}}, base=tmp_path)
    assert cfg.ids.injection_model == tmp_path / "models/ids"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ids.injection_model = None  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    "table, message",
    [
        ({"injection_model": 3}, "ids.injection_model: expected a path string"),
        ({"injection_modle": "x"}, "ids.injection_modle: unknown key"),
        ({"threshold": 0.5}, "ids.threshold: unknown key"),
        ("rules", "ids: expected a table"),
    ],
)
def test_bad_ids_keys_are_named(table: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "ids": table})
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems
