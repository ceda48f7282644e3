# Two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch; on this project's machines pip finds it in a local wheel directory.
TORCH_SPEC ?= torch==2.13.0
APT_PACKAGES := dcmtk dicom3tools openssl tesseract-ocr
BUNDLE ?= models/demo-cxr
DEMO_DIR ?= work/demo

.PHONY: help system-deps venv venv-appliance test test-fast demo demo-model clean

help:
	@echo "make test        set up everything and run the test suite"
	@echo "make demo        set up the appliance (no torch) and run it end to end"
	@echo "make demo-model  rebuild the demo model bundle from nothing (phantoms, training, export)"

# DCMTK is the real PACS peer used by tests and the demo. Installed when running as root
# (CI, containers); otherwise the missing tools are named and the target fails.
system-deps:
	@# Looked up in /usr/bin: a virtualenv on PATH may hold pynetdicom's own storescu.
	@missing=""; for t in storescu echoscu dcmdump dciodvfy openssl tesseract; do [ -x /usr/bin/$$t ] || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else echo "missing:$$missing; install with: sudo apt-get install $(APT_PACKAGES)"; exit 1; fi; fi

# Full development environment: appliance + export/training extras + test tools.
$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[export,train,dev]'
	touch $@

# Appliance only: what a production box installs. No torch.
$(VENV)-appliance/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)-appliance
	$(VENV)-appliance/bin/python -m pip install -q --upgrade pip
	$(VENV)-appliance/bin/python -m pip install -q -e .
	touch $@

venv: $(VENV)/.dev-installed
venv-appliance: $(VENV)-appliance/.installed

test: system-deps venv
	$(PY) -m pytest

# Skips tests marked slow.
test-fast: system-deps venv
	$(PY) -m pytest -m "not slow"

demo-model: venv
	$(PY) -m training.build_demo_model --out $(BUNDLE)

demo: system-deps venv-appliance
	$(VENV)-appliance/bin/securemed demo --bundle $(BUNDLE) --workdir $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(VENV)-appliance work .pytest_cache
