# Everything a fresh machine needs: `make demo` to see ragls work on this repository,
# `make test` to run the test suite. Both create .venv and install into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RAGLS := $(VENV)/bin/ragls
# numpy's BLAS threads would fight torch's for the cores; models are only ever loaded offline.
export OPENBLAS_NUM_THREADS := 1
export HF_HUB_OFFLINE := 1

.PHONY: install e2e-tools test demo bench clean

install: $(VENV)/.installed

# torch is installed first and pinned (constraints.txt): an unpinned torch would pull a
# multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Node 24, code-server and Chromium for the real-VS-Code test (tests/clients/test_vscode_e2e.py),
# into .e2e-tools/ (apt-get for Chromium); each part is skipped when it is already there.
e2e-tools:
	bash clients/vscode/e2e/install.sh

test: install e2e-tools
	$(PY) -m pytest -q

demo: install
	$(RAGLS) index .
	$(RAGLS) search "split an identifier into lower-case words" --limit 5
	$(RAGLS) related server/ragls/core/store.py:$$(grep -n 'def lexical_search' server/ragls/core/store.py | cut -d: -f1) --limit 5
	$(RAGLS) status

bench: install
	$(PY) bench/pipeline.py
	$(PY) bench/quality.py
	$(PY) bench/lsp.py

clean:
	rm -rf $(VENV) build *.egg-info server/*.egg-info .e2e-tools test-artifacts
