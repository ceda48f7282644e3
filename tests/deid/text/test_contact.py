"""Contact recognizers (deid/text/recognizers/contact.py): phone, e-mail, URL, IP address."""

from __future__ import annotations

import pytest

from deid.text import EMAIL, IP_ADDRESS, PHONE, URL, TextRedactor
from deid.text.base import RuleRecognizer
from deid.text.recognizers.contact import EmailRecognizer, IpAddressRecognizer, PhoneRecognizer, UrlRecognizer
from tests.deid.text.helpers import best_score, covered, detect, found

#: (recognizer, text, every (type, span) it reports). Empty: clinical text it must leave alone.
CASES: list[tuple[type[RuleRecognizer], str, list[tuple[str, str]]]] = [
    # A NANP number also holds a seven-digit local part (scored 0.3, see test_local_number_*).
    (PhoneRecognizer, "Call (405) 714-9506 tomorrow", [(PHONE, "(405) 714-9506"), (PHONE, "714-9506")]),
    (PhoneRecognizer, "Fax 405.714.9506 x123", [(PHONE, "405.714.9506 x123")]),
    (PhoneRecognizer, "Tel: +1 405 714 9506", [(PHONE, "+1 405 714 9506"), (PHONE, "714 9506")]),
    (PhoneRecognizer, "Phone 4057149506", [(PHONE, "4057149506")]),
    (PhoneRecognizer, "RT Jane Roe pager 76296", [(PHONE, "76296")]),
    (PhoneRecognizer, "Paged J. Kachela at 87204.", [(PHONE, "87204")]),
    (PhoneRecognizer, "Reach her at +44 20 7946 0958.", [(PHONE, "+44 20 7946 0958")]),
    (PhoneRecognizer, "Called at 1500 hours", []),
    (PhoneRecognizer, "BP 120/80, HR 88, RR 18.", []),
    (PhoneRecognizer, "Nodule grew from 1-2 cm over 2019-2020.", []),
    (EmailRecognizer, "Questions to jdoe@example.org please", [(EMAIL, "jdoe@example.org")]),
    (EmailRecognizer, "mail J.Doe+cxr@rad.example.co.uk.", [(EMAIL, "J.Doe+cxr@rad.example.co.uk")]),
    (EmailRecognizer, "For example, e.g. pneumonia, i.e. infection.", []),
    (EmailRecognizer, "Ratio 3@4", []),
    (UrlRecognizer, "Portal: https://portal.example.org/p/123.", [(URL, "https://portal.example.org/p/123")]),
    (UrlRecognizer, "See www.oakclinic.com for directions", [(URL, "www.oakclinic.com")]),
    (UrlRecognizer, "Visit oakclinic.health/intake today", [(URL, "oakclinic.health/intake")]),
    (UrlRecognizer, "Email jdoe@example.org", []),  # the e-mail recognizer's
    (UrlRecognizer, "For example, e.g. pneumonia, i.e. infection.", []),
    (UrlRecognizer, "Dr.Smith saw her", []),
    (IpAddressRecognizer, "PACS node 10.1.2.254 (primary)", [(IP_ADDRESS, "10.1.2.254")]),
    (
        IpAddressRecognizer,
        "host 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        [(IP_ADDRESS, "2001:0db8:85a3:0000:0000:8a2e:0370:7334")],
    ),
    (IpAddressRecognizer, "gateway fe80::1 down", [(IP_ADDRESS, "fe80::1")]),
    (IpAddressRecognizer, "Repeat at 10:30 and 14:45:10.", []),
    (IpAddressRecognizer, "Ratio 3:1:2:4 noted", []),
    (IpAddressRecognizer, "Octets 256.1.1.1 invalid", []),
    (IpAddressRecognizer, "Study UID 1.2.840.113619.2.55.3.604688.", []),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "expected"),
    CASES,
    ids=[f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)],
)
def test_contact_recognizers(recognizer: type[RuleRecognizer], text: str, expected: list[tuple[str, str]]) -> None:
    assert detect(recognizer(), text) == expected


SCORES: list[tuple[type[RuleRecognizer], str, str, float]] = [
    (PhoneRecognizer, "Call (405) 714-9506 tomorrow", "(405) 714-9506", 0.85),
    (PhoneRecognizer, "Phone 4057149506", "4057149506", 0.9),
    (PhoneRecognizer, "Reach her at +44 20 7946 0958.", "+44 20 7946 0958", 0.75),
    (PhoneRecognizer, "Paged J. Kachela at 87204.", "87204", 0.8),
    (PhoneRecognizer, "Lab value 596-9742 recorded.", "596-9742", 0.3),
    (EmailRecognizer, "Questions to jdoe@example.org please", "jdoe@example.org", 0.95),
    (UrlRecognizer, "See www.oakclinic.com for directions", "www.oakclinic.com", 0.9),
    (UrlRecognizer, "Visit oakclinic.health/intake today", "oakclinic.health/intake", 0.8),
    (IpAddressRecognizer, "PACS node 10.1.2.254 (primary)", "10.1.2.254", 0.9),
    (IpAddressRecognizer, "gateway fe80::1 down", "fe80::1", 0.85),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "span", "score"), SCORES, ids=[f"{c.__name__}-{s}" for c, _, s, _ in SCORES]
)
def test_contact_scores(recognizer: type[RuleRecognizer], text: str, span: str, score: float) -> None:
    assert best_score(recognizer(), text, span) == pytest.approx(score)


def test_local_number_needs_a_phone_word(redactor: TextRedactor) -> None:
    """A seven-digit number scores 0.3 alone; the context enhancer lifts it over the threshold
    only after a phone word."""
    assert "call" in PhoneRecognizer().context
    assert found(redactor, "Call back number 596-9742.") == [(PHONE, "596-9742")]
    assert found(redactor, "Lab value 596-9742 recorded.") == []


# -- through the redactor -------------------------------------------------------------------------

POSITIVES: list[tuple[str, str, str]] = [
    # (text, the PHI in it, recognizer family: for the test id only)
    ("Call (405) 714-9506 tomorrow", "(405) 714-9506", "phone"),
    ("Fax 405.714.9506 x123", "405.714.9506 x123", "phone"),
    ("Tel: +1 405 714 9506", "+1 405 714 9506", "phone"),
    ("RT Jane Roe pager 76296", "76296", "phone"),
    ("Call back number 596-9742.", "596-9742", "phone"),
    ("Paged J. Kachela at 87204.", "87204", "phone"),
    ("Reach her at +44 20 7946 0958.", "+44 20 7946 0958", "phone"),
    ("Questions to jdoe@example.org please", "jdoe@example.org", "email"),
    ("Portal: https://portal.example.org/p/123.", "https://portal.example.org/p/123", "url"),
    ("See www.oakclinic.com for directions", "www.oakclinic.com", "url"),
    ("PACS node 10.1.2.254 (primary)", "10.1.2.254", "ip"),
    (
        "host 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "ip",
    ),
]

NEGATIVES: list[tuple[str, str]] = [
    ("BP 120/80, HR 88, RR 18.", "ssn/phone/date"),
    ("Lab value 596-9742 recorded.", "phone without a phone word"),
    ("For example, e.g. pneumonia, i.e. infection.", "url"),
    ("Repeat at 10:30 and 14:45:10.", "ip"),
]


@pytest.mark.parametrize(
    ("text", "phi"),
    [(t, p) for t, p, _ in POSITIVES],
    ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(POSITIVES)],
)
def test_redactor_finds_contacts(redactor: TextRedactor, text: str, phi: str) -> None:
    assert covered(redactor, text, phi), found(redactor, text)


@pytest.mark.parametrize(("text", "why"), NEGATIVES, ids=[w for _, w in NEGATIVES])
def test_redactor_leaves_vitals_and_times(redactor: TextRedactor, text: str, why: str) -> None:
    assert found(redactor, text) == []
