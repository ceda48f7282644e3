"""PS3.15 Annex E header de-identification: Table E.1-1, IOD-dependent actions, UID remapping, date shifts."""
