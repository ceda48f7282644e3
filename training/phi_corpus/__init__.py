"""Synthetic clinical texts with planted PHI and gold spans, for training and measuring the
free-text redactor (deid/text/).

Three kinds of document: radiology reports (header block, history, comparison, findings,
communication, signature, footer), clinical notes (ED / admission style) and DICOM free-text
descriptors (Study Description, Image Comments, Additional Patient History: short, often upper
case). Every document carries

* `phi`: gold spans of every planted identifier, typed PERSON, DATE, AGE (> 89), MRN, ACCESSION,
  ID, SSN, PHONE, EMAIL, URL, IP_ADDRESS, ADDRESS, LOCATION, FACILITY;
* `terms`: spans of planted clinical terms that must survive redaction, marked "known" (built
  from vocabulary the redactor ships) or "held_out" (eponyms, organisms, drugs and devices that
  appear in none of the redactor's word lists: they measure what happens to unseen vocabulary);
* `header`: the DICOM header values of the same study (PatientName as PN "LAST^FIRST^MIDDLE",
  PatientID, AccessionNumber, PatientBirthDate, ...), for the per-study deny-lists.

Disjointness. Names and places come from Faker's per-locale first/last-name lists (read
directly from the provider modules, no Faker instance, so generation is deterministic). Every
token is assigned to the "train" or "eval" half by a hash of its folded spelling
(`split_of`): the name model is trained on the train half only, the evaluation corpus draws
from the eval half only, and street/city names are built from those same halves. A token that
appears in several locales lands in the same half everywhere; `tests/deid/text/`
asserts that the halves do not intersect.

Needs Faker (a dev/train dependency); the appliance does not import this module.

Modules: `names` (name pools and their split), `vocabulary` (place word lists), `sentences`
(clinical sentences), `documents` (Span, Document, the span builder), `generators` (PHI values,
the cast of a document), `fragments`, `report`, `note`, `descriptor` (the document writers),
`corpus` (generate, clinical_text, iter_clinical_terms). Import from this package.
"""

from training.phi_corpus.corpus import clinical_text, generate, iter_clinical_terms
from training.phi_corpus.documents import PHI_TYPES, Document, Span
from training.phi_corpus.generators import format_date, format_name
from training.phi_corpus.names import NAME_LOCALES, NamePool, Split, name_pool, split_of
from training.phi_corpus.sentences import HELD_OUT_SENTENCES, KNOWN_SENTENCES

__all__ = [
    "HELD_OUT_SENTENCES",
    "KNOWN_SENTENCES",
    "NAME_LOCALES",
    "PHI_TYPES",
    "Document",
    "NamePool",
    "Span",
    "Split",
    "clinical_text",
    "format_date",
    "format_name",
    "generate",
    "iter_clinical_terms",
    "name_pool",
    "split_of",
]
