# The two commands of the README:
#   make run    set everything up and run the site on http://127.0.0.1:8000/
#   make test   set everything up and run every check and test
# Both work on a fresh Debian/Ubuntu machine with Python 3.11+.
#   make bench  the benchmarks against Django Channels 4 (bench/README.md); not a test

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint typecheck docs pytest system-packages clean

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py loaddemo
	$(BIN)/python manage.py runserver

test: system-packages $(STAMP) lint typecheck docs pytest

# Run nothing else meanwhile: the figures are only worth comparing on a quiet machine.
bench: $(STAMP)
	@BENCH=1 scripts/install-system-packages
	$(BIN)/python bench/run.py --out bench/results/layer.json
	$(BIN)/python bench/interfaces.py --out bench/results/stack.json

system-packages:
	@scripts/install-system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict channels_core

# Warnings are errors and every cross-reference must resolve; needs Graphviz's dot.
docs: $(STAMP)
	$(BIN)/sphinx-build -W -n --keep-going -b html docs docs/_build/html

pytest: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
