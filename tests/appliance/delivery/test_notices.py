"""Withheld notices and withheld indications as a clinician sees them, over real mutual TLS on
127.0.0.1: listed with their codes, rendered without report text, the model's text never edited."""

from __future__ import annotations

import pytest

from appliance.delivery.client import ReportClient, render
from appliance.delivery.server import create_server
from common.tls import TLSFiles

from .conftest import SECRET_FINDINGS


@pytest.fixture
def dr_a(pki, keys, store):
    server, port = create_server(
        "127.0.0.1:0", store, TLSFiles(pki.server_cert, pki.server_key, pki.ca_cert), max_workers=4
    )
    server.start()
    cert, key = pki.clients["dr-a"]
    client = ReportClient(
        f"127.0.0.1:{port}", pki.ca_cert, cert, key, keys.ecies["dr-a"].private_key, keys.trusted, "dr-a", timeout=5
    )
    yield client
    client.close()
    server.stop(0).wait(5)


def test_a_notice_is_listed_and_shown_with_its_codes_and_no_text(dr_a, store, make_envelope) -> None:
    notice, envelope = make_envelope(
        findings="", impression="", kind="withheld-notice", reason_codes=("contradiction", "laterality-mismatch")
    )
    report, report_envelope = make_envelope()
    store.put(envelope)
    store.put(report_envelope)
    listed = {s.report_id: s for s in dr_a.list(decrypt=True)}
    assert listed[notice.report_id].status == "withheld by validator: contradiction, laterality-mismatch"
    assert listed[notice.report_id].reason_codes == ("contradiction", "laterality-mismatch")
    assert listed[report.report_id].status == "" and listed[report.report_id].kind == "report"
    assert all(s.kind is None for s in dr_a.list())  # without decrypt nothing is opened
    lines = render(dr_a.get(notice.report_id))
    assert lines[-1] == "withheld by validator: contradiction, laterality-mismatch"
    assert not any(line.startswith(("FINDINGS", "IMPRESSION")) for line in lines)


@pytest.mark.parametrize(
    "indication, codes, line",
    [
        (
            "withheld",
            ("injection-override", "injection-encoded"),
            "Indication withheld by the validator (injection-override, injection-encoded).",
        ),
        ("used", (), None),
        ("absent", (), None),
    ],
)
def test_a_report_says_when_its_indication_was_withheld_and_keeps_its_text(
    dr_a, store, make_envelope, indication: str, codes: tuple[str, ...], line: str | None
) -> None:
    payload, envelope = make_envelope(indication=indication, indication_codes=codes)
    store.put(envelope)
    got = dr_a.get(payload.report_id)
    assert got == payload
    lines = render(got)
    assert f"FINDINGS: {SECRET_FINDINGS}" in lines and f"IMPRESSION: {payload.impression}" in lines
    withheld = [x for x in lines if x.startswith("Indication withheld")]
    assert withheld == ([line] if line else [])
    (watched,) = list(_first(dr_a.watch()))
    assert watched == payload


def _first(stream):
    try:
        yield next(stream)
    finally:
        stream.cancel()
