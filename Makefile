# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= small
PYTEST_ARGS ?=

.PHONY: venv demo test soak faults bench serve lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	# uv writes no bytecode by default, and where PYTHONDONTWRITEBYTECODE is set no import
	# writes it either: every process (a `rentree run`, Prefect's server, a Dask worker)
	# would compile Prefect from source again, about 2 s of CPU each.
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]'
	touch $(STAMP)

# Prefect's state (runs, logs, artifacts) stays in ./var/prefect, beside the demo workspace,
# where `make serve` shows it and `make clean` removes it.
demo: $(STAMP)
	PREFECT_HOME=$(CURDIR)/var/prefect $(BIN)/rentree demo --scale $(SCALE)

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no test: failing"; exit 1; fi; exit $$rc

# The model-based test of the directory rules for a long time (20 minutes by default), on
# SQLite (SOAK_DB=postgresql under scripts/with-postgres.sh); prints timelines and steps checked.
SOAK_SECONDS ?= 1200
SOAK_DB ?= sqlite
soak: $(STAMP)
	RENTREE_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m pytest tests/test_model_rules.py \
		-k "soak and $(SOAK_DB)" -s -q

# Real `rentree run` subprocesses killed (SIGKILL) mid-apply and after the commit, then a
# re-run (SQLite; PostgreSQL too under scripts/with-postgres.sh).
faults: $(STAMP)
	RENTREE_FAULT_TESTS=1 $(BIN)/python -m pytest tests/test_kill.py -q

# BENCH_SCALE=tiny|small|region (default small), BENCH_PARTS=feeds,sync,...,
# BENCH_JSON=FILE writes the figures for machines.
bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(if $(BENCH_JSON),--json $(BENCH_JSON))

serve: $(STAMP)
	bash scripts/serve.sh

lint: $(STAMP)
	$(BIN)/ruff check rentree tests scripts
	$(BIN)/ruff format --check rentree tests scripts
	$(BIN)/mypy

# var/ holds the demo workspaces, the benchmark region and Prefect's state (var/prefect).
clean:
	rm -rf $(VENV) var
