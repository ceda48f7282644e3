"""The input side of the IDS: prompt injection in the clinical indication.

`normalise` (ids.normalize) undoes the disguises; the rules (`ids.injection.rules`, one class per
rule, four families) and the project's own classifier (`InjectionClassifier`, ONNX Runtime, no
torch) look at the result; `InjectionDetector.screen` combines them into a `Screening` of reason
codes. A text that is withheld never reaches the model.
"""

from __future__ import annotations

from ids.injection.classifier import InjectionClassifier
from ids.injection.detector import InjectionDetector, Screening
from ids.normalize import Normalised, normalise

__all__ = ["InjectionClassifier", "InjectionDetector", "Normalised", "Screening", "normalise"]
