"""The strict loader: every problem by dotted key, unknown keys at any depth, renamed keys answered with
their new name, custom tables parsed by their own `from_mapping`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.config import load
from common.errors import ConfigError


@dataclass(frozen=True)
class Options:
    """A table with its own parser, like deid's options: problems are keyed relative to the table."""

    flags: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Options:
        unknown = sorted(set(data) - {"flags"})
        if unknown:
            raise ConfigError([f"{k}: unknown option" for k in unknown])
        return cls(frozenset(data.get("flags", ())))


@dataclass(frozen=True)
class Inner:
    path: Path
    port: int = 1

    def validate(self, prefix: str) -> list[str]:
        return [] if 0 <= self.port <= 65535 else [f"{prefix}port: not a TCP port"]


@dataclass(frozen=True)
class Outer:
    RENAMED: ClassVar[dict[str, str]] = {"old_name": "name"}

    name: str
    inner: Inner
    items: tuple[Inner, ...] = ()
    options: Options = field(default_factory=Options)
    keys: dict[str, Path] = field(default_factory=dict)


BASE: dict[str, Any] = {"name": "x", "inner": {"path": "a"}}


def test_relative_paths_resolve_against_the_base(tmp_path: Path) -> None:
    cfg = load(Outer, {**BASE, "keys": {"k1": "k.pem"}, "items": [{"path": "/abs"}]}, base=tmp_path)
    assert cfg.inner.path == tmp_path / "a" and cfg.keys == {"k1": tmp_path / "k.pem"}
    assert cfg.items[0].path == Path("/abs")


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({**BASE, "old_name": "y"}, "old_name: renamed; use name"),
        ({**BASE, "inner": {"path": "a", "colour": 1}}, "inner.colour: unknown key"),
        ({**BASE, "items": [{"path": "a"}, {"path": "b", "extra": 1}]}, "items[1].extra: unknown key"),
        ({**BASE, "inner": {"path": "a", "port": 70000}}, "inner.port: not a TCP port"),
        ({**BASE, "inner": {"path": "a", "port": "1"}}, "inner.port: expected an integer, got '1'"),
        ({**BASE, "options": {"flag": ["a"]}}, "options.flag: unknown option"),
        ({**BASE, "keys": {"k1": 3}}, "keys.k1: expected a path string, got 3"),
        ({"inner": {"path": "a"}}, "name: missing"),
    ],
)
def test_each_problem_is_named_by_its_dotted_key(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(Outer, raw)
    assert problem in info.value.problems


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.integers() | st.text(max_size=5), max_size=4))
def test_any_unknown_nested_key_is_an_error_never_a_default(extra: dict[str, Any]) -> None:
    inner = {"path": "a", **{k: v for k, v in extra.items() if k not in ("path", "port")}}
    unknown = set(inner) - {"path", "port"}
    if not unknown:
        assert load(Outer, {**BASE, "inner": inner}).inner.port == 1
        return
    with pytest.raises(ConfigError) as info:
        load(Outer, {**BASE, "inner": inner})
    assert {f"inner.{k}: unknown key" for k in unknown} <= set(info.value.problems)
