"""Data and training: chest X-ray phantoms, report corpus, labeler, metrics, the report model.

Modules that build phantoms, reports and labels need only numpy and pydicom, so the appliance's
demo can make a study without torch. Only `training.model` and `training.train` import torch.
"""
