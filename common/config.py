"""Load frozen dataclasses from TOML, strictly: the one configuration reader of the project.

Contract: every problem in the input is collected and reported by its dotted key ("grpc.port:
expected an integer, got 'x'"); unknown keys are errors, nested tables included; missing keys
without a default are errors; nothing falls back to defaults on a bad file (ConfigError, exit 78).

Supported field types: str, int, float, bool, Path, tuples and frozensets of those, tables of
those (dict[str, X]), Optional[...] of those, nested dataclasses and tuples of nested dataclasses (TOML arrays of tables), and any class
with a `from_mapping(table)` classmethod that raises ConfigError with keys relative to its table
(how deid/ parses its options without depending on this loader's field rules). Validation beyond
types lives in each dataclass's `validate(prefix) -> list[str]`. A key listed in a dataclass's
`RENAMED: ClassVar[dict[str, str]]` is answered with the name it has now.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

from common.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Jetson images ship Python 3.10
    import tomli as tomllib

T = TypeVar("T")


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML table in `path`; ConfigError if it is missing, unreadable or invalid."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(["config file not found"], path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], path) from None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, key: str, problems: list[str], base: Path | None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, key, problems, base)
    if origin in (tuple, frozenset):
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis][:1]
        if not isinstance(value, list):
            problems.append(f"{key}: expected a list, got {_describe(value)}")
            return origin()
        return origin(_convert(item, v, f"{key}[{i}]", problems, base) for i, v in enumerate(value))
    if origin is dict:
        key_type, item = typing.get_args(tp)
        if not isinstance(value, Mapping):
            problems.append(f"{key}: expected a table, got {_describe(value)}")
            return {}
        return {k: _convert(item, v, f"{key}.{k}", problems, base) for k, v in value.items()}
    if isinstance(tp, type) and hasattr(tp, "from_mapping"):
        try:
            return tp.from_mapping(value)
        except ConfigError as exc:
            problems.extend(f"{key}.{p}" for p in exc.problems)
            return None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            problems.append(f"{key}: expected a table, got {_describe(value)}")
            return None
        return _build(typing.cast(type, tp), value, key + ".", problems, base)
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{key}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{key}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{key}: expected a number, got {_describe(value)}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{key}: expected a string, got {_describe(value)}")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: expected a path string, got {_describe(value)}")
            return Path()
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else (base / path)
    raise TypeError(f"unsupported settings type {tp!r} at {key}")


def _build(cls: type[T], raw: Mapping[str, Any], prefix: str, problems: list[str], base: Path | None) -> T | None:
    start = len(problems)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    renamed: Mapping[str, str] = getattr(cls, "RENAMED", {})
    for unknown in sorted(set(raw) - set(fields)):
        if unknown in renamed:
            problems.append(f"{prefix}{unknown}: renamed; use {prefix}{renamed[unknown]}")
        else:
            problems.append(f"{prefix}{unknown}: unknown key")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            values[name] = _convert(hints[name], raw[name], key, problems, base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(f"{key}: missing")
    if len(problems) != start:
        return None  # the object is only built from well-typed values
    try:
        obj = cls(**values)
    except ConfigError as exc:  # a dataclass that checks itself in __post_init__
        problems.extend(f"{prefix}{p}" for p in exc.problems)
        return None
    validate = getattr(obj, "validate", None)
    if validate is not None:
        problems.extend(validate(prefix))
    return obj


def load(cls: type[T], raw: Mapping[str, Any], *, base: Path | None = None, prefix: str = "") -> T:
    """Build `cls` from `raw`; relative paths resolve against `base`. Raises ConfigError."""
    problems: list[str] = []
    obj = _build(cls, raw, prefix, problems, base)
    if problems or obj is None:
        raise ConfigError(problems or [f"{prefix or 'config'}: invalid"])
    return obj
