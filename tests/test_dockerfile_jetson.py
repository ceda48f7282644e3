"""Dockerfile.jetson cannot be built here (no aarch64, no Docker engine): parse it and check its stages."""

from __future__ import annotations

import re

from tests.conftest import REPO

TEXT = (REPO / "Dockerfile.jetson").read_text()
INSTRUCTIONS = {"FROM", "ARG", "RUN", "COPY", "ENV", "USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "CMD", "WORKDIR", "LABEL"}


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
