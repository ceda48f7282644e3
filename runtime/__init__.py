"""Torch-free inference: model bundles, DICOM preprocessing and report generation on ONNX Runtime.

This package must import neither torch nor export/ (tests/runtime/test_imports.py enforces it).
"""
