"""runtime/ imports neither torch nor export/ (nor transformers): the appliance runs without them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = ("torch", "transformers", "export", "training", "optimum", "open_clip")
# A meta-path hook that makes the forbidden packages impossible to import, as on a box without them.
BLOCKER = """
import sys, importlib.abc
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked in this test: ' + name)
        return None
sys.meta_path.insert(0, _Block())
"""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((REPO / "runtime").rglob("*.py")), ids=lambda p: p.name)
def test_runtime_module_imports_nothing_forbidden(path: Path) -> None:
    assert not (_imports(path) & set(FORBIDDEN)), f"{path.name} imports {_imports(path) & set(FORBIDDEN)}"


def test_runtime_imports_without_torch_installed() -> None:
    code = BLOCKER.format(blocked=FORBIDDEN) + (
        "import runtime.bundle, runtime.generator, runtime.preprocess, runtime.errors\n"
        "assert not any(m.split('.')[0] in {'torch', 'transformers'} for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_generate_command_runs_without_torch(tiny_bundle: Path, tmp_path: Path) -> None:
    """`securemed generate` on a phantom with torch, transformers and export/ unimportable."""
    from training.phantoms import make_phantom

    dcm = tmp_path / "p.dcm"
    make_phantom(7).dataset.save_as(dcm, enforce_file_format=True)
    code = BLOCKER.format(blocked=FORBIDDEN[:4]) + (
        f"from cli.main import run\nsys.exit(run(['generate', '--bundle', {str(tiny_bundle)!r}, {str(dcm)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "FINDINGS:" in result.stdout and "IMPRESSION:" in result.stdout
