"""The output side of the IDS: rules over the draft report, each a small class with a stable
reason code (successor of `appliance/validate.py`).

    from ids.report import Draft, ReportValidator, ValidationContext
    violations = ReportValidator().check(Draft(findings, impression, "CR", "CHEST"), context)

Modules: base.py (Draft, ValidationContext, Violation, ReportRule), validator.py (ReportValidator,
fail closed on a rule error: "rule-error"), structure.py, phi.py, consistency.py, anatomy.py,
markers.py, anomaly.py (the rules), rules.py (the default set), labels.py (FINDINGS), labeler.py
(the negation-aware labeler), mentions.py (mention-level view: asserted / negated / uncertain).
"""

from __future__ import annotations

from ids.report.anatomy import AnatomyMismatch, DeviceInconsistent
from ids.report.anomaly import ImageAgreementAnomaly, LogprobAnomaly, agreement
from ids.report.base import Draft, ReportRule, ValidationContext, Violation
from ids.report.consistency import Contradiction, LateralityMismatch, NormalImpressionOverAbnormalFindings
from ids.report.markers import Markup, MetaTalk, OutputInstruction
from ids.report.mentions import FindingMention, find_mentions
from ids.report.phi import HeaderLeak, PhiEntities, PhiPatterns
from ids.report.structure import LengthBounds, Repetition, SectionsPresent
from ids.report.validator import RULE_ERROR, ReportValidator, default_codes, default_rules

__all__ = [
    "RULE_ERROR",
    "AnatomyMismatch",
    "Contradiction",
    "DeviceInconsistent",
    "Draft",
    "FindingMention",
    "HeaderLeak",
    "ImageAgreementAnomaly",
    "LateralityMismatch",
    "LengthBounds",
    "LogprobAnomaly",
    "Markup",
    "MetaTalk",
    "NormalImpressionOverAbnormalFindings",
    "OutputInstruction",
    "PhiEntities",
    "PhiPatterns",
    "ReportRule",
    "ReportValidator",
    "Repetition",
    "SectionsPresent",
    "ValidationContext",
    "Violation",
    "agreement",
    "default_codes",
    "default_rules",
    "find_mentions",
]
