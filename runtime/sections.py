"""The two sections of a report, "FINDINGS: ... IMPRESSION: ...", split without losing text.

Standard library only: the report validator (ids.report) splits drafts given as text the same way
the generator splits what the model wrote.
"""

from __future__ import annotations

import re

__all__ = ["split_sections"]

_SECTIONS = re.compile(r"(?:\bFINDINGS\s*:(?P<findings>.*?))?(?:\bIMPRESSION\s*:(?P<impression>.*))?\Z", re.S | re.I)


def split_sections(text: str) -> tuple[str, str]:
    """("findings", "impression") of a report written "FINDINGS: ... IMPRESSION: ..." (headers
    case-insensitive, either may be missing). No text is dropped, so the validator sees all the
    model wrote: anything before the first header joins FINDINGS ("Sure, here is the report:"), a
    text without headers is all FINDINGS, a report without an IMPRESSION header has an empty one."""
    match = _SECTIONS.search(text)
    assert match is not None  # every group is optional and \Z always matches at the end
    before = text[: match.start()]
    findings = f"{before.strip()} {(match.group('findings') or '').strip()}".strip()
    return findings, (match.group("impression") or "").strip()
