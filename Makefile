# Everything a fresh Debian machine with Python 3.11 needs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-dashboard bench-prometheus system-deps clean

$(VENV)/.installed: pyproject.toml
	scripts/make-venv.sh $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/stackmeter demo --no-serve

system-deps:
	scripts/install-test-deps.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(VENV)/.installed system-deps lint
	$(BIN)/pytest

bench: $(VENV)/.installed system-deps
	$(BIN)/python benchmarks/overload.py
	$(BIN)/python benchmarks/exposition.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/notifications.py
	$(BIN)/python benchmarks/api_load.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bad_input.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/replay.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/replay_beyond.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/replay_memory.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/replay_mc.py --write BENCHMARKS.md

# About 25 minutes the first time (it builds a 10,000-entity store of 8 GB, reused after): every page and list route.
bench-dashboard: $(VENV)/.installed system-deps
	$(BIN)/python benchmarks/dashboard.py --write BENCHMARKS.md

# About 30 minutes: 2,000 scaled entities against a real Prometheus, and the scaling curve.
bench-prometheus: $(VENV)/.installed system-deps
	$(BIN)/python benchmarks/rollups.py --entities 2000 --scaling 500,2000,10000 --json rollups-benchmark.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
	find src -name __pycache__ -type d -prune -exec rm -rf {} +
