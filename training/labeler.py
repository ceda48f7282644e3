"""The negation-aware rule labeler, moved to `ids.report.labeler` (the report validator uses it in
the appliance, which cannot import `training`). Re-exported here so that training code and its
tests keep their imports."""

from __future__ import annotations

from ids.report.labeler import (
    RULES,
    FindingRule,
    Mention,
    SidedFindingRule,
    is_negated,
    label_report,
    split_sentences,
)

__all__ = ["RULES", "FindingRule", "Mention", "SidedFindingRule", "is_negated", "label_report", "split_sentences"]
