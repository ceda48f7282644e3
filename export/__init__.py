"""ONNX export of the report model into a verified model bundle (needs the [export] extra)."""
