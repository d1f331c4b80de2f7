# ocop-live: every command installs what it needs first (venv, packages; the local
# stack fetches Kafka jars and installs redis-server when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup lint test demo stack-up stack-down clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

demo: setup
	bash scripts/demo.sh

stack-up: setup
	$(BIN)/ocop-live stack up

stack-down: setup
	$(BIN)/ocop-live stack down

clean:
	-$(BIN)/ocop-live stack down
	rm -rf .run
