"""DICOM free-text descriptors (Study Description, Image Comments, Additional Patient History)."""

from __future__ import annotations

from datetime import timedelta

from training.phi_corpus.documents import _Builder, _Cast
from training.phi_corpus.fragments import _clinical, _date
from training.phi_corpus.generators import _age_text, _Gen


def _descriptor(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    """DICOM free-text attributes: terse, often upper case, names in PN or plain form."""
    rng, b = g.rng, _Builder()
    p = c.patient
    form = rng.randrange(10)
    if form == 8:
        b.add(f"{p.last.upper()} {p.first.upper()}", "PERSON")
        b.add(rng.choice((" CXR", " CHEST 2V", " PORT CHEST")))
    elif form == 9:
        b.add("pt: ")
        b.add(f"{p.last.lower()}, {p.first.lower()}", "PERSON")
        b.add(" - r/o pna")
    elif form == 0:
        b.add(rng.choice(("CHEST PA/LAT ", "XR CHEST 1V ", "CHEST PORTABLE ")))
        b.add(f"{p.last.upper()}^{p.first.upper()}", "PERSON")
    elif form == 1:
        b.add(rng.choice(("PORTABLE AP - ", "AP SUPINE - ")))
        b.add(f"{p.last.upper()} {p.first.upper()}", "PERSON")
        b.add(" - TECH ")
        tech = rng.choice(c.others)
        b.add(f"{tech.first.upper()} {tech.last.upper()}", "PERSON")
    elif form == 2:
        age, rest = _age_text(rng, c.age90)
        b.add(age, "AGE")
        b.add(rest.upper() + rng.choice((" F", " M")) + ", SOB. HX CHF. ORD BY DR ")
        b.add(c.referring.last.upper(), "PERSON")
    elif form == 3:
        b.add("Image sent from ")
        b.add(c.outside_facility, "FACILITY")
        b.add(" ")
        _date(b, c.exam_date, rng)
    elif form == 4:
        b.add("RT ")
        b.add(f"{c.others[0].first} {c.others[0].last}", "PERSON")
        b.add(rng.choice((" ext ", " x", " pager ")))
        b.add(str(rng.randint(1000, 99999)), "PHONE")
    elif form == 5:
        b.add("Pt ")
        b.add(p.last.upper(), "PERSON")
        b.add(" MRN ")
        b.add(c.mrn, "MRN")
        b.add(" ACC ")
        b.add(c.accession, "ACCESSION")
    elif form == 6:
        b.add("Prior from ")
        _date(b, g.date_between(c.exam_date - timedelta(days=900), c.exam_date), rng)
        b.add(" at ")
        b.add(c.outside_facility, "FACILITY")
    else:
        b.add(rng.choice(("CXR for ", "Chest xray ")))
        b.add(f"{p.first} {p.last}", "PERSON")
        b.add(", DOB ")
        _date(b, c.dob, rng)
    if rng.random() < 0.6:
        b.add(". ")
        _clinical(b, rng, rng.randint(1, 2), held_out_share, upper=rng.random() < 0.6)
    return b
