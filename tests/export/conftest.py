"""Fixtures of export tests: the runtime tests' tiny model with a finding head, and its bundle."""

from tests.runtime.conftest import tiny_head_bundle, tiny_head_model

__all__ = ["tiny_head_bundle", "tiny_head_model"]
