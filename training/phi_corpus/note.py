"""Clinical notes, ED / admission style."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from training.phi_corpus.documents import _Builder, _Cast
from training.phi_corpus.fragments import _CRED, _clinical, _date, _name
from training.phi_corpus.generators import _age_text, _Gen


def _note(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    rng, b = g.rng, _Builder()
    p = c.patient
    sentences: list[Callable[[], None]] = []

    def intro() -> None:
        if rng.random() < 0.5:
            b.add(f"{p.first} {p.last}", "PERSON")
        else:
            b.add(rng.choice(("Mr. ", "Mrs. ", "Ms. ")))
            b.add(p.last, "PERSON")
        b.add(" is a ")
        if rng.random() < 0.5:
            age, rest = _age_text(rng, c.age90)
            b.add(age, "AGE")
            b.add(rest)
        else:
            b.add(f"{rng.randint(20, 89)}-year-old")
        b.add(rng.choice((" woman", " man", " patient")) + " who presents with shortness of breath.")

    def lives() -> None:
        b.add(rng.choice(("Lives at ", "Home address: ", "Resides at ")))
        b.add(c.street, "ADDRESS")
        b.add(", ")
        b.add(c.city, "LOCATION")
        b.add(f", {c.state[0]} ")
        b.add(c.zip_code, "ADDRESS")
        b.add(rng.choice((" with her husband.", " with his wife.", ", alone.", ".")))

    def contact() -> None:
        rel = rng.choice(
            (
                "daughter",
                "son",
                "wife",
                "husband",
                "sister",
                "brother",
                "niece",
                "friend",
                "caregiver",
            )
        )
        form = rng.randrange(4)
        fam = f"{c.family.first} {c.family.last}"
        if form == 0:
            b.add(f"Emergency contact: {rel} ")
            b.add(fam, "PERSON")
            b.add(", ")
            b.add(g.phone(), "PHONE")
            b.add(".")
        elif form == 1:
            b.add(fam, "PERSON")
            b.add(f" ({rel}) can be reached at ")
            b.add(g.phone(), "PHONE")
            b.add(".")
        elif form == 2:
            b.add(f"Spoke with the patient's {rel}, ")
            b.add(fam, "PERSON")
            b.add(", by phone.")
        else:
            b.add(fam, "PERSON")
            b.add(" at bedside.")

    def pcp() -> None:
        b.add(rng.choice(("PCP: Dr. ", "Primary care: Dr. ", "Follows with Dr. ")))
        b.add(rng.choice((c.referring.last, f"{c.referring.first} {c.referring.last}")), "PERSON")
        b.add(" at ")
        b.add(c.outside_facility, "FACILITY")
        b.add(".")

    def ids() -> None:
        form = rng.randrange(4)
        if form == 0:
            b.add("SSN: ")
            b.add(g.ssn(), "SSN")
        elif form == 1:
            b.add(rng.choice(("Insurance ID: ", "Member ID ", "Encounter #: ", "Visit number ")))
            b.add(g.other_id(), "ID")
        elif form == 2:
            b.add(rng.choice(("MRN ", "MR# ", "Medical record number ")))
            b.add(c.mrn, "MRN")
        else:
            b.add("Email: ")
            b.add(g.email(p), "EMAIL")
        b.add(".")

    def transfer() -> None:
        b.add(rng.choice(("Transferred from ", "Sent over from ", "Admitted from ")))
        b.add(c.outside_facility, "FACILITY")
        if rng.random() < 0.5:
            b.add(" in ")
            b.add(g.city(), "LOCATION")
        b.add(" on ")
        _date(b, c.exam_date, rng, with_year=rng.random() < 0.6)
        b.add(".")

    def seen() -> None:
        b.add(rng.choice(("Seen by ", "Evaluated by ", "Examined by ")))
        _name(b, rng.choice(c.others), rng)
        b.add(rng.choice((", NP", ", PA-C", " (cardiology)", "")) + " on ")
        _date(b, g.date_between(c.exam_date - timedelta(days=30), c.exam_date), rng)
        b.add(".")

    def dob() -> None:
        b.add(rng.choice(("DOB ", "Date of birth: ", "Born ")))
        _date(b, c.dob, rng)
        b.add(".")

    def fam_history() -> None:
        b.add("Her physician, ")
        _name(b, rng.choice(c.others), rng)
        b.add(", recommends follow-up.")

    def first_only() -> None:
        b.add(p.first, "PERSON")
        b.add(
            rng.choice(
                (
                    " reports improvement in her breathing.",
                    " states the cough is better.",
                    " was comfortable overnight.",
                )
            )
        )

    def origin() -> None:
        b.add(rng.choice(("Originally from ", "Recently returned from a trip to ", "Grew up in ")))
        b.add(g.city(), "LOCATION")
        b.add(".")

    def family_visit() -> None:
        b.add(rng.choice(("Her son ", "His daughter ", "Her husband ", "His wife ")))
        b.add(c.family.first, "PERSON")
        b.add(" visits daily.")

    def local_phone() -> None:
        b.add(rng.choice(("Call back number ", "Daughter's cell: ", "Home phone ")))
        b.add(f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}", "PHONE")
        b.add(".")

    sentences = [
        intro,
        lives,
        contact,
        pcp,
        ids,
        transfer,
        seen,
        dob,
        fam_history,
        first_only,
        origin,
        family_visit,
        local_phone,
    ]
    rng.shuffle(sentences)
    sentences.remove(intro)
    sentences.insert(0, intro)
    for s in sentences[: rng.randint(4, len(sentences))]:
        s()
        b.add(" ")
        if rng.random() < 0.5:
            _clinical(b, rng, rng.randint(1, 2), held_out_share)
            b.add(" ")
    b.add("\nSigned: ")
    _name(b, c.radiologist, rng)
    b.add(rng.choice(_CRED))
    return b
