# Wardgate: `make run` starts the demo, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench eval train train-semantic clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: install and start the gateway in front of the bundled demo upstream
run: install
	$(BIN)/wardgate demo

## test: lint, type-check and run the whole test suite
test: install lint typecheck unit

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest

## bench: measure performance against baselines; writes docs/performance.md
bench: install
	$(BIN)/python bench/run.py

## eval: measure detection quality on shared/data; writes docs/detection.md (one section each)
eval: install
	$(BIN)/python scripts/eval_attacks.py
	$(BIN)/python scripts/eval_injection.py
	$(BIN)/python scripts/eval_discovery.py
	$(BIN)/pip install --quiet -e '.[eval-sensitive]'
	$(BIN)/python scripts/eval_sensitive.py

## train: fit the prompt-injection model; writes src/wardgate/data/models/injection.json.gz
train: install
	$(BIN)/pip install --quiet -e '.[train]'
	$(BIN)/python scripts/train_injection.py

## train-semantic: fit the optional semantic head (pulls in torch); writes semantic_head.json
train-semantic: install
	$(BIN)/pip install --quiet -e '.[train,semantic]'
	$(BIN)/python scripts/train_semantic.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
