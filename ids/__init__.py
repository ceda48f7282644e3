"""Intrusion detection: what reaches the model (prompt injection in the clinical indication) and what
the model writes (the draft report), each check a small rule class with a stable reason code.

Subpackages: `ids.injection` (the input side: normalisation, rules per attack family, the project's
own small classifier run on ONNX Runtime, the detector that combines them), `ids.report` (the output
side: structure, PHI, consistency by the negation- and laterality-aware labeler, anatomy for the
modality, injected-output markers, anomaly against the bundle's calibration). `ids.normalize` and
`ids.features` are shared by both sides and by the training of the classifier.

Layer: below `appliance` and `training`, above `deid` (PHI in reports uses the free-text cleaner)
and `runtime` (bundles and ONNX sessions). No torch.
"""
