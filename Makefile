# Two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch; on this project's machines pip finds it in a local wheel directory.
TORCH_SPEC ?= torch==2.13.0
BUNDLE ?= models/demo-cxr
DEMO_DIR ?= work/demo

.PHONY: help system-deps system-deps-demo venv venv-appliance lint typecheck test test-fast soak demo demo-model ids-model bench-ids clean

help:
	@echo "make test        set up everything and run the test suite"
	@echo "make demo        set up the appliance (no torch) and run it end to end"
	@echo "make demo-model  rebuild the demo model bundle from nothing (phantoms, training, export)"
	@echo "make ids-model   retrain the prompt-injection classifier (models/ids-injection, about 30 s)"
	@echo "make bench-ids   the IDS figures of the README (bench/results/ids.md, about 1 minute)"
	@echo "make lint        ruff (lint and format) and the import contracts (import-linter)"
	@echo "make typecheck   mypy"
	@echo "make soak        the 50-SIGKILL crash-safety soak (about 6 minutes)"

# Debian packages. The demo needs DCMTK (the PACS peer), tesseract (Clean Pixel Data) and openssl;
# the tests also use dicom3tools (dciodvfy) and Orthanc (a peer de-identifier). Installed when running
# as root (CI, containers); otherwise the missing tools are named and the target fails. Tools are
# looked up under /usr: a virtualenv on PATH may hold pynetdicom's own storescu.
APT_DEMO := dcmtk openssl tesseract-ocr
APT_TEST := $(APT_DEMO) dicom3tools fonts-dejavu-core orthanc
TOOLS_DEMO := bin/storescu bin/echoscu bin/openssl bin/tesseract
TOOLS_TEST := $(TOOLS_DEMO) bin/dcmdump bin/dciodvfy sbin/Orthanc
define ensure_apt
	@missing=""; for t in $(1); do [ -x /usr/$$t ] || missing="$$missing $${t#*/}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else echo "missing:$$missing; install with: sudo apt-get install $(2)"; exit 1; fi; fi
endef

system-deps:
	$(call ensure_apt,$(TOOLS_TEST),$(APT_TEST))

system-deps-demo:
	$(call ensure_apt,$(TOOLS_DEMO),$(APT_DEMO))

# Full development environment: appliance + export/training extras + test tools.
$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[export,train,dev]'
	touch $@

# Appliance only: what a production box installs. No torch.
$(VENV)-appliance/.installed: pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)-appliance
	$(VENV)-appliance/bin/python -m pip install -q --upgrade pip
	$(VENV)-appliance/bin/python -m pip install -q -e .
	touch $@

venv: $(VENV)/.dev-installed
venv-appliance: $(VENV)-appliance/.installed

# ruff's lint rules and formatting, and the layering contracts (pyproject.toml [tool.importlinter]).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

test: system-deps venv
	$(PY) -m pytest

# Skips tests marked slow.
test-fast: system-deps venv
	$(PY) -m pytest -m "not slow"

# The long crash-safety soak: 50 SIGKILLs of `securemed serve` over a stream of 120 studies (~6 min).
soak: system-deps venv
	SECUREMED_SOAK=1 $(PY) -m pytest -s tests/appliance/test_soak.py

demo-model: venv
	$(PY) -m cli.demo_model --out $(BUNDLE)

ids-model: venv
	$(PY) -m training.injection_classifier --out models/ids-injection

bench-ids: venv
	$(PY) -m bench.ids --json bench/results/ids.json --write bench/results/ids.md

demo: system-deps-demo venv-appliance
	$(VENV)-appliance/bin/securemed demo --bundle $(BUNDLE) --workdir $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(VENV)-appliance work .pytest_cache
