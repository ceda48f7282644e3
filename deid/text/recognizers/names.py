"""Person-name recognizers of the free-text redactor (see deid/text/).

Contract: both recognizers report PERSON only, and skip clinical vocabulary and eponyms
("Kerley B lines", "Hampton hump", "X syndrome").

* `PersonContextRecognizer` finds names next to a context: before them titles ("Dr.", "Mrs."),
  signatures ("signed by"), communication ("discussed with", "paged"), roles ("PCP:") and
  relatives ("his daughter X"); after them credentials ("X, MD") and verbs ("X was
  notified"). Strong contexts score 0.9; weak ones (plain prepositions, "patient X") need the
  name model to agree and score 0.5 + 0.34 * its probability; so do lower-case names (0.75).
  Contexts never reach across a line break.
* `NameModelRecognizer` finds runs of capitalised non-lexical words without any context that
  the character n-gram model (`deid.text.model.NameModel`) scores as names, with thresholds for
  one word, one word at a sentence start, several words, and a run alone on its line (a
  signature); it scores 0.5 + 0.34 * the model's probability.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import regex as re
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from deid.text.base import PERSON, Recognizer, make_result
from deid.text.lexicon import NAME_TOKEN_RX, is_lexical, skip_blanks, stop_words
from deid.text.model import NameModel, fold
from deid.text.name_scan import (
    CREDENTIAL,
    followed_by_head_noun,
    scan_lower_name,
    scan_name,
    scan_name_backward,
)

_TITLE = r"(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Mss|Miss|Mx|Prof|Professor|Rev|Dame|Sir|Mme|Mlle)\b\.?"
#: Titles in their usual spelling: the word after them is a surname even when it is also an
#: ordinary or clinical word ("Dr. Small", "Mrs. Post").
_PROPER_TITLES = frozenset(
    {"Dr", "Dr.", "Drs", "Drs.", "Doctor", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss"}
    | {"Prof", "Prof.", "Professor"}
)
#: The only titles after which a lower-case word is taken for a name ("d/w dr herbert"); "ms"
#: is milliseconds and "mr" magnetic resonance too often.
_LOWER_TITLES = frozenset({"dr", "dr."})
_RELATION = (
    r"(?:wife|husband|spouse|partner|son|daughter|mother|father|mom|dad|sister|brother|sibling|niece|nephew|"
    r"grandson|granddaughter|grandmother|grandfather|aunt|uncle|cousin|friend|neighbou?r|caregiver|"
    r"guardian|poa|proxy|boyfriend|girlfriend|fianc[eé]e?|roommate|stepson|stepdaughter|child|children)"
)
_ROLE = (
    r"(?:patient|pt|patient\s+name|pt\s+name|name|patient's\s+name|client|resident|attending|"
    r"radiologist|resident\s+physician|fellow|physician|provider|pcp|primary\s+care(?:\s+physician)?|surgeon|"
    r"oncologist|cardiologist|pulmonologist|hospitalist|intensivist|consultant|technologist|technician|tech|"
    r"sonographer|nurse|rn|np|pa|midwife|therapist|pharmacist|dictator|transcriptionist|author|reader|"
    r"referring(?:\s+(?:physician|provider|doctor|md))?|ordering(?:\s+(?:physician|provider|doctor|md))?|"
    r"requesting(?:\s+(?:physician|provider|doctor|md))?|reading(?:\s+(?:physician|radiologist))?|"
    r"performing(?:\s+(?:physician|technologist))?|operator|scribe|contact|emergency\s+contact|"
    r"next\s+of\s+kin|nok|interpreter|chaperone|witness|mr|mrs|signed|electronically\s+signed|co-?signed|"
    r"dictated|transcribed|read|reviewed|verified|approved|attested|reported|interpreted|seen)"
)
#: Context words before a name, with their kind:
#:   title  - "Dr."/"Mrs." (a proper-case title accepts any capitalised non-stop word, and
#:            lower-case "dr" one lower-case non-vocabulary word: "d/w dr smith"),
#:   strong - the words after are a name when they look like one (capitalised, not vocabulary),
#:   label  - like strong, and lower-case words are accepted when the name model agrees,
#:   weak   - plain prepositions and the like: the name model must agree.
_BEFORE_CONTEXTS: tuple[tuple[str, str], ...] = (
    (rf"(?i:\b{_TITLE})", "title"),
    (
        (
            r"(?i:\b(?:electronically\s+)?(?:signed|co-?signed|dictated|transcribed|reviewed|read|interpreted|reported|verified|"
            r"approved|attested|authenticated|finali[sz]ed|performed|ordered|referred|requested|seen|evaluated|examined|"
            r"assessed|consulted|accepted|admitted|discharged|covered|treated|followed|managed|operated|scanned|"
            r"acquired|obtained|completed|prepared)\s+(?:on\s+\S+\s+)?by\b:?)"
        ),
        "strong",
    ),
    (
        (
            r"(?i:\b(?:discussed|communicated|conveyed|relayed|reviewed|spoke|spoken|talked|consulted|conferred|"
            r"met|reported|explained|shared|sent|faxed|e-?mailed|given|handed\s+off|signed\s+out)"
            r"(?:\s+(?:the|these|this|those|our|my|all|critical|urgent|preliminary|final|above|results?|findings?|"
            r"images?|studies|study|case|report|recommendations?|by\s+telephone|by\s+phone|in\s+person|directly|verbally|"
            r"telephonically)){0,4}\s+(?:with|to)\b)"
        ),
        "strong",
    ),
    (
        (
            r"(?i:\b(?:d/w|c/w|cc|c\.c\.|attn|attention|per|fao|paged|called|notified|informed|contacted|texted|"
            r"messaged|alerted|updated|told)\b\.?:?)"
        ),
        "strong",
    ),
    (
        (
            r"(?i:\b(?:critical\s+(?:result|finding)s?|results?|findings?)\s+(?:were\s+|was\s+)?(?:called|given|phoned|"
            r"telephoned|paged|communicated|conveyed|relayed)\s+(?:in\s+)?(?:to|by)\b)"
        ),
        "strong",
    ),
    (rf"(?i:\b{_ROLE}\b\s*[:#\-]\s*)", "label"),
    (
        (
            r"(?i:\b(?:his|her|their|the\s+patient's|patient's|pt's|the|ordering|referring|requesting|attending|covering|"
            r"primary|treating)\s+(?:physician|doctor|provider|pcp|surgeon|oncologist|cardiologist|pulmonologist|"
            r"nurse|nurse\s+practitioner|np|pa|rn|md|hospitalist|intensivist|radiologist|resident|fellow|consultant|"
            r"therapist|team\s+lead)\b\s*[,:\-]?\s*)"
        ),
        "strong",
    ),
    (
        rf"(?i:\b(?:his|her|their|the\s+patient's|patient's|pt's|pt|patient|with|by|contact:?)\s+{_RELATION}\b,?\s*(?::\s*)?)",
        "strong",
    ),
    (rf"(?i:\b{_RELATION}\b\s*[,:]?\s*)", "weak"),
    # "RT" is also "right" ("RT KNEE"): only before a capitalised, not upper-case, word.
    (
        r"(?:\b(?:RN|NP|CNA|LPN|RRT|CRNA|PA-C)\s+|\bRT\s+(?=\p{Lu}\p{Ll})|(?i:\btech(?:nologist|nician)?\b\.?\s+))",
        "strong",
    ),
    (r"(?i:\b(?:patient|pt\.?|client)\s+)", "weak"),
    (r"(?i:\b(?:with|to|by|from|and|for|cc|via|thanks|thank\s+you)\s+)", "weak"),
    (r"(?i:\b(?:case\s+)?(?:reviewed|discussed|seen|staffed)\s+with\s+)", "strong"),
)
#: Context after a name: (pattern anchored at the text right after the name, kind "strong"/"weak").
_AFTER_CONTEXTS: tuple[tuple[str, str], ...] = (
    (rf",?\s*{CREDENTIAL}(?![\w])", "strong"),
    (
        (
            r"\s+(?:was|were|has\s+been|have\s+been|is|had\s+been)\s+(?:notified|informed|called|paged|contacted|"
            r"made\s+aware|aware|updated|present|consulted|told|advised)\b"
        ),
        "strong",
    ),
    (rf"\s*[,(]\s*(?:the\s+)?(?:patient's\s+|pt's\s+)?{_RELATION}\b", "strong"),
    (
        (
            r"\s*[,(]\s*(?:RN|NP|PA|MD|DO|the\s+patient's\s+nurse|ICU\s+fellow|covering\s+resident|attending|"
            r"resident|fellow|cardiology|pulmonology|surgery|oncology)\b"
        ),
        "strong",
    ),
    (
        r"\s*[,(]?\s*(?:DOB|D\.O\.B\.?|date\s+of\s+birth|MRN|MR\#|born\s|\d{1,3}\s*(?:yo|y/o|-?year-old))",
        "strong",
    ),
    (
        (
            r"\s+(?:agrees|agreed|acknowledged|acknowledges|will|would|reviewed|requested|requests|confirmed|"
            r"confirms|stated|states|reports|reported|called|paged|verbalized|understands|understood|consents|consented|"
            r"declined|declines|denies|denied|complains|endorses|tolerated|feels|felt|recommends|recommended|ordered|"
            r"signed|dictated|at\s+bedside|at\s+the\s+bedside|by\s+phone|can\s+be\s+reached|is\s+a|was\s+a|"
            r"presents|presented|was\s+comfortable|is\s+comfortable|were\s+present|was\s+seen|visits|visited)\b"
        ),
        "weak",
    ),
)


def _one_line(pattern: str) -> str:
    """`pattern` with every \\s (outside character classes) limited to blanks and tabs."""
    out, depth, i = [], 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append("[ \\t]" if pair == "\\s" and depth == 0 else pair)
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        out.append(c)
        i += 1
    return "".join(out)


class PersonContextRecognizer(Recognizer):
    """Person names next to a context: titles ("Dr.", "Mrs."), signatures ("signed by",
    "dictated by"), communication ("discussed with", "called to", "paged"), roles ("PCP:",
    "Technologist:"), relatives ("his daughter X"), credentials after the name ("X, MD"), and
    verbs after it ("X was notified"). Weak contexts (plain prepositions, "patient X") need the
    name model to agree that the words look like a name; so do lower-case names."""

    def __init__(self, model: NameModel | None, *, weak_threshold: float = 0.5) -> None:
        self._model = model
        self._weak = weak_threshold
        # Contexts never reach across a line break ("..., RN\nLocation: ...").
        self._before = [(re.compile(_one_line(p)), kind) for p, kind in _BEFORE_CONTEXTS]
        self._after = [(re.compile(_one_line(p)), kind) for p, kind in _AFTER_CONTEXTS]
        super().__init__(supported_entities=[PERSON])

    def _support(self, text: str, start: int, end: int) -> float:
        """How much the name model believes in the words of [start, end): the best word of a
        multi-word name, the word itself for a single word."""
        words = [m.group() for m in NAME_TOKEN_RX.finditer(text, start, end) if len(m.group()) > 1]
        if not words:
            return 0.0
        if self._model is None:
            return 1.0 if len(words) >= 2 else 0.0
        p = self._model.probabilities(words)
        return float(p.max()) if len(words) >= 2 else float(p[0])

    def _before_span(self, text: str, m: re.Match[str], kind: str) -> tuple[int, int, float] | None:
        span = scan_name(text, m.end())
        if kind == "title" and span is None and m.group().strip() in _PROPER_TITLES:
            w = NAME_TOKEN_RX.match(text, skip_blanks(text, m.end()))
            if w and w.group()[:1].isupper() and fold(w.group()) not in stop_words():
                span = w.span()
        if span is not None:
            s, e = span
            if followed_by_head_noun(text, e):
                return None
            if kind == "weak":
                support = self._support(text, s, e)
                return (s, e, 0.5 + 0.34 * support) if support >= self._weak else None
            return s, e, 0.9
        if kind == "title" and m.group().strip() in _LOWER_TITLES:
            low = scan_lower_name(text, m.end(), max_tokens=1)
            if low is not None and fold(text[low[0] : low[1]]) not in stop_words():
                return low[0], low[1], 0.75  # "d/w dr herbert"
        if kind == "label":
            low = scan_lower_name(text, m.end())
            if low is not None and self._support(text, *low) >= self._weak:
                return low[0], low[1], 0.75
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        out: list[RecognizerResult] = []
        for rx, kind in self._before:
            for m in rx.finditer(text):
                found = self._before_span(text, m, kind)
                if found is not None:
                    out.append(make_result(self, PERSON, *found))
        ends = list(_candidate_ends(text))
        for rx, kind in self._after:
            for end in ends:
                if not rx.match(text, end):
                    continue
                span = scan_name_backward(text, end, lenient_last=kind == "strong")
                if span is None:
                    continue
                s, e = span
                if kind == "weak":
                    support = self._support(text, s, e)
                    words = [w for w in NAME_TOKEN_RX.finditer(text, s, e) if len(w.group()) > 1]
                    # One word alone ("Paul reports ...") needs a more confident model.
                    needed = self._weak if len(words) >= 2 else max(self._weak, 0.8)
                    if support < needed:
                        continue
                    out.append(make_result(self, PERSON, s, e, 0.5 + 0.34 * support))
                else:
                    out.append(make_result(self, PERSON, s, e, 0.9))
        return out


def _candidate_ends(text: str) -> Iterator[int]:
    """Ends of capitalised words (where an after-name context may start)."""
    for m in NAME_TOKEN_RX.finditer(text):
        if m.group()[:1].isupper():
            yield m.end()


class NameModelRecognizer(Recognizer):
    """Names without any context: runs of capitalised, non-lexical words scored by the
    character n-gram model. Two or more words need a mean probability >= `multi_threshold`;
    one word alone needs `single_threshold` (higher at a sentence start); a line holding only
    the run (and maybe a credential: a signature line) needs `line_threshold`. A run followed by an
    eponym head noun ("X syndrome") is skipped. In upper-case text every word is a candidate."""

    def __init__(
        self,
        model: NameModel,
        *,
        single_threshold: float,
        multi_threshold: float,
        initial_threshold: float,
        line_threshold: float,
    ) -> None:
        self._model = model
        self._line = line_threshold
        self._single = single_threshold
        self._multi = multi_threshold
        self._initial = initial_threshold
        super().__init__(supported_entities=[PERSON])

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        out: list[RecognizerResult] = []
        for run in _capitalised_runs(text):
            words = [text[s:e] for s, e in run.words]
            p = self._model.probabilities(words)
            s, e = run.words[0][0], run.words[-1][1]
            if followed_by_head_noun(text, e):
                continue
            if len(words) >= 2:
                score = float(p.mean())
                if score >= (self._line if run.whole_line else self._multi):
                    out.append(make_result(self, PERSON, s, e, 0.5 + 0.34 * score))
            else:
                threshold = self._initial if run.sentence_start else self._single
                if float(p[0]) >= threshold:
                    out.append(make_result(self, PERSON, s, e, 0.5 + 0.34 * float(p[0])))
        return out


@dataclass(frozen=True)
class _Run:
    """Candidate name words (spans) that follow each other within a line."""

    words: tuple[tuple[int, int], ...]
    sentence_start: bool
    whole_line: bool = False  # the run is all the line holds (a signature line)


def _line_is_upper(line: str) -> bool:
    # In upper-case text (DICOM descriptors) capitalisation says nothing: every word is a
    # candidate, and short words are no longer assumed to be abbreviations.
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


_SIGNATURE_TAIL = re.compile(r"[ \t]*(?:,?[ \t]*" + CREDENTIAL + r")?[ \t.]*\r?\n?")
_RUN_GAP = re.compile(r"[ \t]{1,2}|\^|,[ \t]?|[ \t]+\p{Lu}\.?[ \t]+")


def _capitalised_runs(text: str) -> Iterator[_Run]:
    """Maximal runs of candidate name words separated by a blank, a caret, a comma or an
    initial, within one line."""
    offset = 0
    for line in text.splitlines(keepends=True):
        upper_line = _line_is_upper(line)
        current: list[tuple[int, int]] = []
        sentence_start = False
        last_end = -1
        for m in NAME_TOKEN_RX.finditer(line):
            word = m.group()
            s, e = m.start() + offset, m.end() + offset
            candidate = (
                len(word) >= 2
                and word[:1].isupper()
                and (upper_line or not (word.isupper() and len(word) <= 3))
                and not is_lexical(word)
            )
            gap = text[last_end:s] if last_end >= 0 else None
            joinable = gap is not None and bool(_RUN_GAP.fullmatch(gap))
            if candidate and current and joinable:
                current.append((s, e))
            elif candidate:
                if current:
                    yield _Run(tuple(current), sentence_start)
                current = [(s, e)]
                before = text[max(0, s - 3) : s].rstrip(" \t")
                sentence_start = (not before) or before[-1] in ".!?:;\n|" or s == offset
            else:
                if current:
                    yield _Run(tuple(current), sentence_start)
                current = []
            last_end = e
        if current:
            rest = text[current[-1][1] : offset + len(line)]
            alone = not line[: current[0][0] - offset].strip() and bool(_SIGNATURE_TAIL.fullmatch(rest))
            yield _Run(tuple(current), sentence_start, alone and len(current) >= 2)
        offset += len(line)
