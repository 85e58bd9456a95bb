# allidb_mmseg: three targets. `make demo` runs the whole job on synthetic
# data; `make test` runs the suite. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
# A GPU user installs their CUDA build of torch into the venv first; any torch
# already present is kept. On this project's CPU machines the local wheel is used.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.allidb_installed
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install demo test table2 clean-demo browser

install: $(STAMP) browser

$(STAMP): requirements.txt requirements-test.txt setup.py benchmarks/setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip install -q --no-deps --no-build-isolation -e benchmarks
	@$(PY) -c "import allidb_mmseg; allidb_mmseg.register_all_modules(); print('allidb_mmseg installed:', allidb_mmseg.__file__)"
	@touch $(STAMP)

# Headless Chromium for the review-page test (Debian's package; as root only).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "note: install the Debian package chromium for the browser test (it is skipped without it)"; fi; }

# tools/demo.py prints each step's time and its total; make adds the recipe's
# wall time (the install above excluded).
demo: install
	@echo '$(PY) tools/demo.py $(DEMO_ARGS)'; start=$$(date +%s); $(PY) tools/demo.py $(DEMO_ARGS) && \
	echo "make demo: $$(( $$(date +%s) - start )) s after install"

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

table2: install
	$(PY) tools/analysis_tools/reproduce_table2.py $(TABLE2_ARGS)
