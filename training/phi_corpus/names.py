"""The name pools: Faker's per-locale first and last names, split into train and eval halves."""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from deid.text.model import fold

Split = Literal["train", "eval"]

#: Locales whose name lists are Latin script, with the share of patients drawn from each (a
#: US hospital population with a long tail).
NAME_LOCALES: dict[str, float] = {
    "en_US": 0.34,
    "en_GB": 0.05,
    "en_IE": 0.05,
    "en_NZ": 0.03,
    "es_MX": 0.08,
    "es_ES": 0.03,
    "es_CO": 0.03,
    "en_IN": 0.05,
    "en_PK": 0.02,
    "fr_FR": 0.02,
    "fr_CA": 0.02,
    "de_DE": 0.03,
    "it_IT": 0.03,
    "pt_BR": 0.02,
    "nl_NL": 0.02,
    "pl_PL": 0.01,
    "sv_SE": 0.01,
    "fi_FI": 0.01,
    "cs_CZ": 0.01,
    "tr_TR": 0.01,
    "id_ID": 0.01,
    "yo_NG": 0.02,
    "tw_GH": 0.01,
    "sw": 0.01,
    "zu_ZA": 0.01,
    "zh_TW": 0.03,
    "zh_CN": 0.02,
    "ja_JP": 0.01,
}

_NAME_TOKEN = re.compile(r"^[A-Z\u00C0-\u00DE][A-Za-z\u00C0-\u024F'\u2019-]+$")


def split_of(token: str) -> Split:
    """The half a name token belongs to: a hash of its folded spelling, so "José" and "Jose"
    share a half in every locale."""
    digest = hashlib.blake2b(fold(token).encode("utf-8"), digest_size=8).digest()
    return "train" if digest[0] % 2 == 0 else "eval"


def _provider_names(locale: str) -> tuple[list[str], list[str]]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    if locale in ("zh_CN", "zh_TW", "ja_JP"):
        first = list(getattr(provider, "first_romanized_names", ()))
        last = list(getattr(provider, "last_romanized_names", ()))
    else:
        first = list(getattr(provider, "first_names", ()))
        last = list(getattr(provider, "last_names", ()))
    return first, last


@dataclass(frozen=True)
class NamePool:
    """Single-token first and last names of one split, per locale (sorted, deduplicated)."""

    split: Split
    first: dict[str, tuple[str, ...]]
    last: dict[str, tuple[str, ...]]

    def tokens(self) -> frozenset[str]:
        """Every folded token of the pool."""
        out: set[str] = set()
        for names in (*self.first.values(), *self.last.values()):
            out.update(fold(n) for n in names)
        return frozenset(out)


@lru_cache(maxsize=2)
def name_pool(split: Split) -> NamePool:
    """The `split` half of the Latin-script single-token names of NAME_LOCALES."""
    first: dict[str, tuple[str, ...]] = {}
    last: dict[str, tuple[str, ...]] = {}

    def keep(names: list[str]) -> tuple[str, ...]:
        return tuple(sorted({n for n in names if _NAME_TOKEN.match(n) and len(fold(n)) >= 2 and split_of(n) == split}))

    for locale in NAME_LOCALES:
        f, l_ = _provider_names(locale)
        first[locale], last[locale] = keep(f), keep(l_)
    return NamePool(split, first, last)
