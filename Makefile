# The two commands of the README:
#   make run    set everything up and run the site on http://127.0.0.1:8000/
#   make test   set everything up and run every check and test
# Both work on a fresh Debian/Ubuntu machine with Python 3.11+.
#   make bench  the benchmarks against Django Channels 4 (bench/README.md); not a test
#   make bench-scale  10,000 sockets on one server, ours vs daphne (long: not part of make bench)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: `make run` installs the site's dependencies only; `make test` adds
# the test tools (pyproject.toml's "test" extra) on top, reinstalling nothing.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench bench-scale lint typecheck docs pytest system-packages clean
# A recipe that fails leaves no half-made target behind (a virtualenv without pip, say).
.DELETE_ON_ERROR:

run: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py loaddemo
	$(BIN)/python manage.py runserver

test: system-packages $(TEST_STAMP) lint typecheck docs pytest

# Run nothing else meanwhile: the figures are only worth comparing on a quiet machine.
# The test stamp: bench/cluster.py starts its Redis Cluster with channels_core.testing (which imports pytest).
bench: $(TEST_STAMP)
	@BENCH=1 PYTHON=$(PYTHON) scripts/install-system-packages test
	$(BIN)/python bench/run.py --out bench/results/layer.json
	$(BIN)/python bench/interfaces.py --out bench/results/stack.json
	$(BIN)/python bench/cluster.py --out bench/results/cluster.json
	$(BIN)/python bench/history.py --out bench/results/history.json
	$(BIN)/python bench/metrics.py --out bench/results/metrics.json

# Long (about 7 minutes on 2 CPUs, up to 20,000 sockets open on loopback at once), so not part of `bench`.
bench-scale: $(RUN_STAMP)
	@BENCH=1 PYTHON=$(PYTHON) scripts/install-system-packages test
	$(BIN)/python bench/scale.py --out bench/results/scale.json

system-packages:
	@PYTHON=$(PYTHON) scripts/install-system-packages test

# Debian and Ubuntu ship Python's venv module in a package of its own (python3.X-venv).
$(VENV)/pyvenv.cfg:
	@PYTHON=$(PYTHON) scripts/install-system-packages run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/pyvenv.cfg
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(TEST_STAMP)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy --strict channels_core

# Warnings are errors and every cross-reference must resolve; needs Graphviz's dot.
docs: $(TEST_STAMP)
	@PYTHON=$(PYTHON) scripts/install-system-packages docs
	$(BIN)/sphinx-build -W -n --keep-going -b html docs docs/_build/html

# The tests touch nothing of yours: the run fails if they change a file of the checkout
# outside the tools' outputs and caches (scripts/checkout_snapshot.py says which).
pytest: $(TEST_STAMP)
	$(BIN)/python scripts/checkout_snapshot.py -- $(BIN)/pytest

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
