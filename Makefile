# The two set-up commands in README.md are `make demo` and `make test`.
# Each builds its own virtual environment with nothing but python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest docs clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# demo: a plain (non-editable) install, then the main job on the bundled example models.
demo: $(BIN)/activate
	$(BIN)/python -m pip install --quiet .
	@echo "--- 41 real PyTorch exports: the classic ones lint clean; the torch 2.13 default"
	@echo "--- (dynamo) export bakes the example sequence length into a Reshape (AL302)"
	$(BIN)/archlint lint fixtures/exported fixtures/exported_defects --exit-zero
	$(BIN)/archlint params fixtures/exported --summary
	@echo "--- hand-made broken models (exit code ignored for the demo) ---"
	$(BIN)/archlint lint fixtures/AL201/bad.onnx.txt fixtures/AL301/bad.onnx.txt --exit-zero

# test: editable install with test extras, then lint, type-check and the whole test suite.
test: $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/ruff check archlint rules tests scripts bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

docs: $(BIN)/activate
	$(BIN)/python scripts/gen_rule_docs.py

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
