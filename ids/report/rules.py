"""The default rule set of the report validator, in the order the rules run (cheap ones first,
the free-text cleaner last but one: it is the slowest)."""

from __future__ import annotations

from ids.report.anatomy import AnatomyMismatch, DeviceInconsistent
from ids.report.anomaly import ImageAgreementAnomaly, LogprobAnomaly
from ids.report.consistency import Contradiction, LateralityMismatch, NormalImpressionOverAbnormalFindings
from ids.report.markers import Markup, MetaTalk, OutputInstruction
from ids.report.phi import HeaderLeak, PhiEntities, PhiPatterns
from ids.report.structure import LengthBounds, Repetition, SectionsPresent

DEFAULT_RULE_TYPES: tuple[type, ...] = (
    SectionsPresent,
    LengthBounds,
    Repetition,
    PhiPatterns,
    HeaderLeak,
    Contradiction,
    LateralityMismatch,
    NormalImpressionOverAbnormalFindings,
    AnatomyMismatch,
    DeviceInconsistent,
    MetaTalk,
    Markup,
    OutputInstruction,
    LogprobAnomaly,
    ImageAgreementAnomaly,
    PhiEntities,
)
