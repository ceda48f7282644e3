"""Person-name recognizers (deid/text/recognizers/names.py)."""

from __future__ import annotations

import pytest
from presidio_analyzer import EntityRecognizer

from deid.text import PERSON, NameModel, TextRedactor, TextRedactorSettings
from deid.text.recognizers.names import NameModelRecognizer, PersonContextRecognizer
from tests.deid.text.helpers import best_score, covered, detect, found


@pytest.fixture(scope="module")
def recognizers(name_model: NameModel) -> dict[str, EntityRecognizer]:
    """The name recognizers as the redactor builds them with its default settings."""
    s = TextRedactorSettings()
    return {
        "context": PersonContextRecognizer(name_model, weak_threshold=s.context_weak_threshold),
        "context-without-model": PersonContextRecognizer(None, weak_threshold=s.context_weak_threshold),
        "model": NameModelRecognizer(
            name_model,
            single_threshold=s.name_single_threshold,
            multi_threshold=s.name_multi_threshold,
            initial_threshold=s.name_sentence_start_threshold,
            line_threshold=s.name_line_threshold,
        ),
    }


#: (recognizer, text, every name it reports). Empty: clinical text it must leave alone.
CASES: list[tuple[str, str, list[str]]] = [
    ("context", "Findings were discussed with Dr. Smith.", ["Smith"]),
    ("context", "Discussed with Dr. Alan Brown by telephone at 3 PM.", ["Alan Brown"]),
    ("context", "Electronically signed by: Mary Johnson, MD on 1/2/2020", ["Mary Johnson"]),
    ("context", "Mary Johnson, M.D.\nAttending Radiologist", ["Mary Johnson"]),
    ("context", "Mr. Okafor presents with cough.", ["Okafor"]),
    ("context", "Dr. Small reviewed", ["Small"]),  # a surname that is also a word, after a title
    ("context", "Maria Okafor was notified of the findings.", ["Maria Okafor"]),
    ("context", "Patient Name: DOE, JOHN  MRN: 1234567", ["DOE, JOHN"]),
    ("context", "Spoke with his daughter Sarah Lin by phone.", ["Sarah Lin"]),
    ("context", "d/w dr herbert 7:51 am", ["herbert"]),
    ("context", "pt: doe, jane", ["doe, jane"]),
    ("context", "Signed: K. Cortez", ["K. Cortez"]),
    ("context", "RT Ava Eaton pager 76296", ["Ava Eaton"]),
    ("context", "Read by: Dr. Francis P. Day", ["Francis P. Day"]),
    ("context", "Velazquez, Ruth D, M.D.", ["Velazquez, Ruth D"]),
    ("context", "Hector Anderson-Billung, DOB 2/19/1929", ["Hector Anderson-Billung"]),
    ("context", "Joshua Sims reports pain", ["Joshua Sims"]),
    ("context", "patient Oluwaseun", ["Oluwaseun"]),  # a weak context: the model agrees
    ("context", "Paul reports pain", []),  # one word after a weak context needs p >= 0.8
    ("context", "Technologist: jsmith", []),
    ("context", "Foley catheter in place.", []),
    ("context", "Kerley B lines. Hampton hump. Golden S sign.", []),
    ("context", "Crohn's disease. Discussed with the ICU team.", []),
    ("context", "Discussed with Parkinson disease team", []),
    ("context", "MR angiography showed a 20 ms delay.", []),
    ("context", "XR RT KNEE 3V. RT Shoulder.", []),
    ("context-without-model", "Discussed with Dr. Alan Brown by telephone at 3 PM.", ["Alan Brown"]),
    ("context-without-model", "patient Oluwaseun", []),  # no model to confirm a weak context
    ("context-without-model", "Oluwaseun reports pain", []),
    ("model", "Priya Raghunathan", ["Priya Raghunathan"]),
    ("model", "Maria Okafor", ["Maria Okafor"]),
    ("model", "CXR DOE JOHN", ["DOE JOHN"]),  # upper-case text: every word is a candidate
    ("model", "MARIA OKAFOR\nRADIOLOGIST", ["MARIA OKAFOR"]),
    ("model", "Per Oluwaseun Adebayo's request", ["Oluwaseun Adebayo's"]),
    ("model", "Okafor syndrome", []),  # an eponym head noun
    ("model", "the Hampton hump", []),
    ("model", "Golden S sign", []),
    ("model", "Foley catheter in place.", []),
    ("model", "Right lower lobe consolidation. No pneumothorax.", []),
]


@pytest.mark.parametrize(("which", "text", "expected"), CASES, ids=[f"{w}-{i}" for i, (w, _, _) in enumerate(CASES)])
def test_name_recognizers(recognizers: dict[str, EntityRecognizer], which: str, text: str, expected: list[str]) -> None:
    assert detect(recognizers[which], text) == [(PERSON, name) for name in expected]


def test_contexts_do_not_reach_across_lines(recognizers: dict[str, EntityRecognizer]) -> None:
    """ "RN" closes the name on its line; the label on the next line is not a name."""
    assert detect(recognizers["context"], "Mary Johnson, RN\nLocation: ICU") == [(PERSON, "Mary Johnson")]
    assert detect(recognizers["context"], "Dr. Smith\nLocation: ER") == [(PERSON, "Smith")]


def test_scores_say_how_the_name_was_found(recognizers: dict[str, EntityRecognizer], name_model: NameModel) -> None:
    context, model = recognizers["context"], recognizers["model"]
    assert best_score(context, "Discussed with Dr. Alan Brown.", "Alan Brown") == pytest.approx(0.9)  # strong
    assert best_score(context, "d/w dr herbert 7:51 am", "herbert") == pytest.approx(0.75)  # lower case
    weak = 0.5 + 0.34 * name_model.probability("Oluwaseun")
    assert best_score(context, "patient Oluwaseun", "Oluwaseun") == pytest.approx(weak)
    mean = (name_model.probability("Maria") + name_model.probability("Okafor")) / 2
    assert best_score(model, "Maria Okafor", "Maria Okafor") == pytest.approx(0.5 + 0.34 * mean)


def test_name_recognizers_report_only_when_asked_for_persons(recognizers: dict[str, EntityRecognizer]) -> None:
    for rec in recognizers.values():
        assert rec.supported_entities == [PERSON]
        assert rec.analyze("Discussed with Dr. Alan Brown.", ["DATE"], None) == []


# -- through the redactor -------------------------------------------------------------------------

POSITIVES: list[tuple[str, str]] = [
    ("Findings were discussed with Dr. Smith.", "Smith"),
    ("Discussed with Dr. Alan Brown by telephone at 3 PM.", "Alan Brown"),
    ("Electronically signed by: Mary Johnson, MD on 1/2/2020", "Mary Johnson"),
    ("Mary Johnson, M.D.\nAttending Radiologist", "Mary Johnson"),
    ("Mr. Okafor presents with cough.", "Okafor"),
    ("Maria Okafor was notified of the findings.", "Maria Okafor"),
    ("Patient Name: DOE, JOHN  MRN: 1234567", "DOE, JOHN"),
    ("Name: Colón^Mariana | ID: 9634641", "Colón^Mariana"),
    ("Spoke with his daughter Sarah Lin by phone.", "Sarah Lin"),
    ("d/w dr herbert 7:51 am", "herbert"),
    ("Signed: K. Cortez", "K. Cortez"),
    ("RT Ava Eaton pager 76296", "Ava Eaton"),
    ("Read by: Dr. Francis P. Day", "Francis P. Day"),
    ("Velazquez, Ruth D, M.D.", "Velazquez, Ruth D"),
    ("Critical result called to Priya Raghunathan at 3:26 am.", "Priya Raghunathan"),
    ("Chest xray Hector Anderson-Billung, DOB 2/19/1929", "Hector Anderson-Billung"),
    ("Per Oluwaseun Adebayo's request, a lateral view was added.", "Oluwaseun Adebayo"),
]

NEGATIVES: list[str] = [
    "Foley catheter in place. Swan-Ganz catheter in the right pulmonary artery.",
    "Kerley B lines. Hampton hump. Golden S sign.",
    "History of Parkinson disease, Hodgkin lymphoma and Down syndrome.",
    "Crohn's disease. Discussed with the ICU team.",
    "MR angiography showed a 20 ms delay.",
    "XR RT KNEE 3V. RT Shoulder.",
]


@pytest.mark.parametrize(("text", "phi"), POSITIVES, ids=[f"person-{i}" for i in range(len(POSITIVES))])
def test_redactor_finds_names(redactor: TextRedactor, text: str, phi: str) -> None:
    assert covered(redactor, text, phi), found(redactor, text)


@pytest.mark.parametrize("text", NEGATIVES, ids=[f"person-{i}" for i in range(len(NEGATIVES))])
def test_redactor_leaves_eponyms_and_abbreviations(redactor: TextRedactor, text: str) -> None:
    assert found(redactor, text) == []


def test_possessive_is_not_part_of_the_name(redactor: TextRedactor) -> None:
    text = "Per Oluwaseun Adebayo's request, a lateral view was added."
    assert found(redactor, text) == [(PERSON, "Oluwaseun Adebayo")]
