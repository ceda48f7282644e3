"""Radiology reports: header block, history, comparison, findings, communication, signature,
footer."""

from __future__ import annotations

from datetime import timedelta

from training.phi_corpus.documents import _Builder, _Cast
from training.phi_corpus.fragments import _CRED, _clinical, _date, _generated_report, _name
from training.phi_corpus.generators import _age_text, _Gen


def _report(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    rng, b = g.rng, _Builder()
    p = c.patient
    # Header block.
    form = rng.randrange(4)
    if form == 0:
        b.add("PATIENT: ")
        b.add(f"{p.last.upper()}, {p.first.upper()}", "PERSON")
        b.add("    MRN: ")
        b.add(c.mrn, "MRN")
        b.add("    DOB: ")
        _date(b, c.dob, rng)
        b.add("\n")
    elif form == 1:
        b.add("Patient Name: ")
        _name(b, p, rng)
        b.add("  Med Rec #: ")
        b.add(c.mrn, "MRN")
        b.add("\nDate of Birth: ")
        _date(b, c.dob, rng)
        b.add("  Accession #: ")
        b.add(c.accession, "ACCESSION")
        b.add("\n")
    elif form == 2:
        b.add("Name: ")
        b.add(f"{p.last}^{p.first}" + (f"^{p.middle}" if p.middle else ""), "PERSON")
        b.add(" | ID: ")
        b.add(c.mrn, "MRN")
        b.add(" | Acc: ")
        b.add(c.accession, "ACCESSION")
        b.add("\n")
    b.add(
        rng.choice(
            (
                "EXAM: XR CHEST 2 VIEWS",
                "EXAMINATION: CHEST PA AND LATERAL",
                "EXAM: CHEST 1 VIEW PORTABLE",
                "Procedure: Chest radiograph",
            )
        )
    )
    b.add("\nEXAM DATE: ")
    _date(b, c.exam_date, rng)
    if rng.random() < 0.5:
        b.add(rng.choice(("  ACCESSION: ", "  Accession Number: ", "  ACC# ")))
        b.add(c.accession, "ACCESSION")
    b.add("\n")
    if rng.random() < 0.8:
        b.add(
            rng.choice(
                (
                    "REFERRING PHYSICIAN: ",
                    "Ordering provider: ",
                    "Referred by: Dr. ",
                    "Requesting physician: ",
                )
            )
        )
        _name(b, c.referring, rng)
        b.add(rng.choice(_CRED) + "\n")
    if rng.random() < 0.3:
        b.add("Location: ")
        b.add(c.facility, "FACILITY")
        b.add(rng.choice((" Emergency Department\n", ", 4 West\n", " ICU\n", "\n")))
    # History.
    b.add(rng.choice(("CLINICAL HISTORY: ", "INDICATION: ", "History: ", "REASON FOR EXAM: ")))
    if rng.random() < 0.35:
        age, rest = _age_text(rng, c.age90)
        b.add(age, "AGE")
        b.add(rest + rng.choice((" female", " male", " woman", " man", "")))
    else:
        b.add(f"{rng.randint(18, 89)}-year-old {rng.choice(('female', 'male', 'woman', 'man'))}")
    b.add(
        rng.choice(
            (
                " with shortness of breath. ",
                " with cough and fever. ",
                ", fall. ",
                " with chest pain. ",
            )
        )
    )
    if rng.random() < 0.3:
        b.add(rng.choice(("Patient ", "Pt ", "Pt. ")))
        _name(b, p, rng)
        b.add(rng.choice((" seen in clinic ", " evaluated ")))
        _date(
            b,
            g.date_between(c.exam_date - timedelta(days=90), c.exam_date),
            rng,
            with_year=rng.random() < 0.7,
        )
        b.add(". ")
    if rng.random() < 0.3:
        _clinical(b, rng, 1, held_out_share)
    b.add("\n")
    # Comparison.
    b.add("COMPARISON: ")
    r = rng.random()
    prior = g.date_between(c.exam_date - timedelta(days=2000), c.exam_date)
    if r < 0.25:
        b.add("None.")
    elif r < 0.55:
        _date(b, prior, rng)
        b.add(".")
    elif r < 0.8:
        b.add(rng.choice(("Chest radiograph from ", "Prior study dated ", "CT chest of ")))
        _date(b, prior, rng)
        b.add(rng.choice((" at ", " performed at ", " from ")))
        b.add(c.outside_facility, "FACILITY")
        b.add(".")
    else:
        b.add(rng.choice(("Outside films from ", "Images from ")))
        b.add(c.outside_facility, "FACILITY")
        b.add(" in ")
        b.add(g.city(), "LOCATION")
        b.add(", dated ")
        _date(b, prior, rng)
        b.add(".")
    b.add("\n")
    # Findings / impression.
    if rng.random() < 0.3:
        b.add(_generated_report(rng))
        b.add(" Additional findings: ")
        _clinical(b, rng, rng.randint(1, 3), held_out_share)
    else:
        b.add(rng.choice(("FINDINGS: ", "FINDINGS:\n", "Findings: ")))
        _clinical(b, rng, rng.randint(3, 6), held_out_share)
        b.add(rng.choice(("\nIMPRESSION: ", "\n\nIMPRESSION:\n", "\nImpression: ")))
        _clinical(b, rng, rng.randint(1, 3), held_out_share)
    b.add("\n")
    # Communication.
    if rng.random() < 0.6:
        doc = rng.choice([c.referring, *c.others])
        form = rng.randrange(13)
        t = f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(('AM', 'PM', 'am', 'pm'))}"
        if form == 0:
            b.add("Findings were discussed with Dr. ")
            b.add(rng.choice((doc.last, f"{doc.first} {doc.last}")), "PERSON")
            b.add(f" by telephone at {t} on ")
            _date(b, c.exam_date, rng)
            b.add(".")
        elif form == 1:
            b.add("Critical result called to ")
            _name(b, doc, rng)
            b.add(f"{rng.choice(_CRED)} at {t}, read back confirmed.")
        elif form == 2:
            b.add("Results communicated to the ordering provider, ")
            _name(b, doc, rng)
            b.add(", via secure chat.")
        elif form == 3:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(f" was notified of the findings at {t}.")
        elif form == 4:
            b.add("Discussed with ")
            _name(b, doc, rng)
            b.add(rng.choice((" (ICU fellow)", " (covering resident)", " of the ED team", "")) + f" at {t}.")
        elif form == 5:
            b.add("The findings were relayed to ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(rng.choice((", RN", ", the patient's nurse", " in the ICU")) + ".")
        elif form == 6:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(
                rng.choice(
                    (
                        " agrees with the plan.",
                        " will follow up.",
                        " acknowledged receipt.",
                        " reviewed the images with me.",
                    )
                )
            )
        elif form == 7:
            b.add("Case reviewed with ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(" and ")
            other = rng.choice(c.others)
            b.add(f"{other.first} {other.last}", "PERSON")
            b.add(".")
        elif form == 8:
            b.add("Paged ")
            _name(b, doc, rng)
            b.add(" at ")
            b.add(g.phone() if rng.random() < 0.5 else f"{rng.randint(10000, 99999)}", "PHONE")
            b.add(".")
        elif form == 9:  # terse lower-case note
            b.add(rng.choice(("d/w dr ", "dw dr. ", "called dr ")))
            b.add(doc.last.lower(), "PERSON")
            b.add(f" {t}")
        elif form == 10:  # no context word at all
            b.add("Images reviewed with the ICU team (")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(").")
        elif form == 11:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(" and ")
            other = rng.choice(c.others)
            b.add(f"{other.first} {other.last}", "PERSON")
            b.add(" were present for the procedure.")
        else:
            b.add("Per ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add("'s request, a lateral view was added.")
        b.add("\n")
    # Signature.
    rad = c.radiologist
    form = rng.randrange(6)
    if form == 0:
        b.add("Electronically signed by: ")
        _name(b, rad, rng)
        b.add(", MD on ")
        _date(b, c.exam_date, rng)
        b.add(f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}")
    elif form == 1:
        b.add("Dictated by: ")
        _name(b, rad, rng)
        b.add("\nTranscribed: ")
        _date(b, c.exam_date, rng)
    elif form == 2:
        b.add("Read by: Dr. ")
        _name(b, rad, rng)
    elif form == 3:
        _name(b, rad, rng)
        b.add(rng.choice((", M.D.", ", MD", " MD", ", DO")))
        b.add("\nAttending Radiologist")
    elif form == 4:
        b.add("I have personally reviewed the images and agree with the findings.\n")
        b.add(f"{rad.first} {rad.last}", "PERSON")
    else:
        b.add("Attending radiologist: ")
        _name(b, rad, rng)
        b.add("  Resident: ")
        _name(b, rng.choice(c.others), rng)
    b.add("\n")
    # Footer.
    if rng.random() < 0.45:
        b.add(c.facility, "FACILITY")
        b.add(" Department of Radiology, ")
        b.add(g.street() if rng.random() < 0.8 else g.po_box(), "ADDRESS")
        b.add(", ")
        b.add(c.city, "LOCATION")
        b.add(", ")
        b.add(c.state[0] if rng.random() < 0.8 else c.state[1])
        b.add(" ")
        b.add(c.zip_code, "ADDRESS")
        b.add(rng.choice((". Tel ", ". Phone: ", " | Tel: ")))
        b.add(g.phone(), "PHONE")
        b.add(rng.choice((" Fax ", " | Fax: ", ", fax ")))
        b.add(g.phone(), "PHONE")
        b.add("\n")
    if rng.random() < 0.25:
        r = rng.randrange(3)
        if r == 0:
            b.add("Questions? Contact ")
            b.add(g.email(rng.choice(c.others)), "EMAIL")
            b.add(" or visit ")
            b.add(g.url(), "URL")
            b.add(".")
        elif r == 1:
            b.add("Images available at ")
            b.add(g.url(), "URL")
            b.add(" (PACS node ")
            b.add(g.ip(), "IP_ADDRESS")
            b.add(").")
        else:
            b.add("Study UID: ")
            b.add(g.uid(), "ID")
            b.add(".")
        b.add("\n")
    return b
