"""Dockerfile.jetson cannot be built here (no aarch64, no Docker engine): parse it and check its stages."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

TEXT = (REPO / "Dockerfile.jetson").read_text()
INSTRUCTIONS = {
    "FROM",
    "ARG",
    "RUN",
    "COPY",
    "ENV",
    "USER",
    "VOLUME",
    "EXPOSE",
    "ENTRYPOINT",
    "CMD",
    "WORKDIR",
    "LABEL",
}


def _logical_lines() -> list[str]:
    joined = re.sub(r"\\\n", " ", TEXT)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_line_is_a_known_instruction() -> None:
    for line in _logical_lines():
        assert line.split()[0] in INSTRUCTIONS, line


def test_stages_build_then_run_on_jetpack6() -> None:
    stages = [line.split() for line in _logical_lines() if line.startswith("FROM")]
    assert [s[-1] for s in stages] == ["build", "runtime"]
    assert "ARG L4T_BASE=nvcr.io/nvidia/l4t-jetpack:r36" in TEXT  # JetPack 6: CUDA, cuDNN, TensorRT


def test_runtime_stage_is_unprivileged_and_serves() -> None:
    runtime = TEXT.split("AS runtime", 1)[1]
    assert "USER securemed" in runtime
    assert 'CMD ["serve", "--config", "/etc/securemed/appliance.toml"]' in runtime
    assert "torch" not in runtime  # the appliance runs without torch
    for path in re.findall(r"COPY (?:--from=\S+ )?(\S+) ", runtime):
        assert path.startswith("/") or (REPO / path).exists(), path


# ---- first start: engines are built before serving -------------------------------------------

ENTRYPOINT = REPO / "docker" / "jetson-entrypoint.sh"


def test_runtime_stage_runs_the_engine_building_entrypoint() -> None:
    runtime = TEXT.split("AS runtime", 1)[1]
    assert "COPY docker/jetson-entrypoint.sh /usr/local/bin/securemed-entrypoint" in runtime
    assert "chmod 0755 /usr/local/bin/securemed-entrypoint" in runtime
    assert 'ENTRYPOINT ["/usr/local/bin/securemed-entrypoint"]' in runtime
    assert "SECUREMED_ENGINE_CACHE=/var/lib/securemed/" in runtime  # on the state volume
    assert 'VOLUME ["/var/lib/securemed"]' in runtime
    # runtime.gpu sets TensorRT options per session; environment variables would only compete
    assert not [line for line in _logical_lines() if "ORT_TENSORRT_" in line]


def _run_entrypoint(workdir: Path, *args: str, fail: str = "", **env: str) -> tuple[int, list[str]]:
    """Run the entrypoint with a stand-in `securemed` on PATH that records its arguments."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "calls.log"
    fake = workdir / "bin" / "securemed"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = "{fail}" ] && exit 3\nexit 0\n')
    fake.chmod(0o755)
    environ = {"PATH": f"{fake.parent}:/usr/bin:/bin", **env}
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=environ, capture_output=True, text=True, timeout=30, check=False
    )
    return result.returncode, (log.read_text().splitlines() if log.exists() else [])


def test_entrypoint_is_valid_posix_shell_and_executable() -> None:
    assert ENTRYPOINT.stat().st_mode & 0o111
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, check=False).returncode == 0


def test_entrypoint_builds_engines_then_serves(tmp_path: Path) -> None:
    code, calls = _run_entrypoint(tmp_path, "serve", "--config", "/etc/securemed/appliance.toml")
    assert code == 0
    # The build reads serve's own config, so both use the same bundle, cache and profiles.
    assert calls == [
        "build-engines --config /etc/securemed/appliance.toml",
        "serve --config /etc/securemed/appliance.toml",
    ]


def test_entrypoint_without_a_config_builds_from_the_image_defaults(tmp_path: Path) -> None:
    code, calls = _run_entrypoint(tmp_path, "serve")
    assert code == 0 and calls == [
        "build-engines --bundle /opt/securemed/models/demo-cxr --cache /var/lib/securemed/trt-engines --precision fp32",
        "serve",
    ]


def test_entrypoint_takes_bundle_cache_and_precision_from_the_environment(tmp_path: Path) -> None:
    code, calls = _run_entrypoint(
        tmp_path, "serve", SECUREMED_BUNDLE="/models/b", SECUREMED_ENGINE_CACHE="/state/e", SECUREMED_PRECISION="fp16"
    )
    assert code == 0 and calls == ["build-engines --bundle /models/b --cache /state/e --precision fp16", "serve"]


def test_a_failed_engine_build_stops_the_container_before_serving(tmp_path: Path) -> None:
    code, calls = _run_entrypoint(tmp_path, "serve", "--config", "x.toml", fail="build-engines")
    assert code == 3
    assert [c.split()[0] for c in calls] == ["build-engines"]


@pytest.mark.parametrize(
    "args, env, expected",
    [
        (("generate", "--bundle", "b", "x.dcm"), {}, ["generate --bundle b x.dcm"]),
        (("serve",), {"SECUREMED_SKIP_ENGINE_BUILD": "1"}, ["serve"]),
        (("build-engines", "--bundle", "b", "--cache", "c"), {}, ["build-engines --bundle b --cache c"]),
    ],
)
def test_other_commands_and_the_skip_switch_run_without_a_build_step(tmp_path: Path, args, env, expected) -> None:
    assert _run_entrypoint(tmp_path, *args, **env) == (0, expected)
