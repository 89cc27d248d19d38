# streamguard — developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv system-deps test test-unit test-integration lint typecheck format demo bench clean

# The venv is rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The Triton Inference Server of the remote-inference tests (tests/support/triton_server.py): the tritonserver
	# that the nvidia-pytriton wheel bundles, with numpy<2 and ONNX Runtime for its Python backend. Kept out of the
	# venv's own packages (--target, no dependencies): that wheel pins numpy<2.
	$(PY) -m pip install -q --upgrade --no-deps --target $(VENV)/triton \
		nvidia-pytriton==0.7.0 numpy==1.26.4 onnxruntime==1.32.0
	touch $(STAMP)

venv: $(STAMP)

# System packages the tests need (installed with apt-get when running as root and missing).
system-deps:
	bash deploy/system-deps.sh

test: venv system-deps
	$(VENV)/bin/pytest

test-unit: venv
	$(VENV)/bin/pytest tests/unit

test-integration: venv system-deps
	$(VENV)/bin/pytest tests/integration

# ruff, formatting, mypy --strict (streamguard, tests, tools) and the import-layer contract (pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check streamguard tests tools
	$(VENV)/bin/ruff format --check streamguard tests tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format streamguard tests tools
	$(VENV)/bin/ruff check --fix streamguard tests tools

# The daemon and its console stay up DEMO_LINGER seconds after the verdict (Ctrl-C ends them earlier).
DEMO_LINGER ?= 120
demo: venv system-deps
	$(VENV)/bin/streamguard demo --linger $(DEMO_LINGER)

# Performance figures as JSON (runs/bench/bench.json); see docs/performance.md.
bench: venv system-deps
	$(VENV)/bin/streamguard bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
