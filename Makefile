# ocop-live: every command installs what it needs first (venv, packages; the local
# stack fetches Kafka jars and installs redis-server when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup lint test alerts chaos bench demo stack-up stack-down clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,tiktok]'
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The alert rules alone: promtool check and unit tests (promtool is installed if missing).
alerts: setup
	$(BIN)/python -m pytest -q tests/deploy/test_alert_rules.py

# The fault-injection suite at full size (CI runs the same tests in a short form).
chaos: setup
	rm -f .run/chaos-report.md && mkdir -p .run
	OCOP_CHAOS=full OCOP_CHAOS_REPORT=.run/chaos-report.md $(BIN)/python -m pytest tests/chaos
	cat .run/chaos-report.md

# The benchmark harness (bench/): BENCH_QUICK=1 for the short mode, BENCH_RUNS, BENCH_SOAK_S,
# BENCH_ONLY=soak (or flash, kill, gateway, scaling) for those scenarios alone.
bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench

demo: setup
	bash scripts/demo.sh

stack-up: setup
	$(BIN)/ocop-live stack up

stack-down: setup
	$(BIN)/ocop-live stack down

clean:
	-$(BIN)/ocop-live stack down
	rm -rf .run
