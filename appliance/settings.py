"""Load frozen dataclasses from TOML-like mappings, strictly.

Contract: every problem in the input is collected and reported by its dotted key ("grpc.port: expected
an integer, got 'x'"); unknown keys are errors; missing keys without a default are errors; nothing
falls back to defaults on a bad file. Supported field types: str, int, float, bool, Path, tuples of
those, Optional[...] of those, nested dataclasses and tuples of nested dataclasses (TOML arrays of
tables). Validation beyond types lives in each dataclass's `validate(prefix) -> list[str]`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar, Union

T = TypeVar("T")


class SettingsError(Exception):
    """One or more problems, each as 'dotted.key: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


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
    if origin is tuple:
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis][:1]
        if not isinstance(value, list):
            problems.append(f"{key}: expected a list, got {_describe(value)}")
            return ()
        return tuple(_convert(item, v, f"{key}[{i}]", problems, base) for i, v in enumerate(value))
    if tp is dict or origin is dict:
        # An opaque table, validated by its owner (e.g. de-identification options).
        if not isinstance(value, Mapping):
            problems.append(f"{key}: expected a table, got {_describe(value)}")
            return {}
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            problems.append(f"{key}: expected a table, got {_describe(value)}")
            return None
        return _build(tp, value, key + ".", problems, base)
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
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for unknown in sorted(set(raw) - set(fields)):
        problems.append(f"{prefix}{unknown}: unknown key")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            values[name] = _convert(hints[name], raw[name], key, problems, base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(f"{key}: missing")
    try:
        obj = cls(**values)
    except TypeError:
        return None  # missing fields were reported above
    # Cross-field validation only runs on well-typed values.
    if len(problems) == start and hasattr(obj, "validate"):
        problems.extend(obj.validate(prefix))  # type: ignore[attr-defined]
    return obj


def load(cls: type[T], raw: Mapping[str, Any], *, base: Path | None = None, prefix: str = "") -> T:
    """Build `cls` from `raw`; relative paths resolve against `base`. Raises SettingsError."""
    problems: list[str] = []
    obj = _build(cls, raw, prefix, problems, base)
    if problems or obj is None:
        raise SettingsError(problems or [f"{prefix or 'config'}: invalid"])
    return obj
