"""Free-text de-identification: Presidio on a blank spaCy pipeline with the project's recognizers."""
