# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ponder-setup
OUT    ?= runs/demo
SEED   ?= 0

.PHONY: setup demo test test-slow bench lint clean

setup: $(STAMP)

# torch first, from the exact CPU build, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/ponder demo thinkpo --seed $(SEED) --out $(OUT)

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

$(VENV)/.ponder-bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.ponder-bench
	$(PY) bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check ponder tests bench
	$(VENV)/bin/ruff format --check ponder tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
