# fraud-consumer: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test unit integration lint bench train clean

# (Re)install when pyproject.toml or a native (Cython) source changes; the editable install
# picks up Python edits by itself, and builds the native parts in place.
$(STAMP): pyproject.toml setup.py $(wildcard consumer/scoring/*.pyx consumer/scoring/*/*.pyx)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'  # ray: the batch engine's tests
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fraud-consumer demo

test: $(STAMP)
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check consumer tests bench
	$(BIN)/ruff format --check consumer tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

train: $(STAMP)
	$(BIN)/fraud-consumer train --force

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
