# armlock: two commands for a fresh machine.
#   make demo   set everything up, then run the main job
#   make test   set everything up, then run the tests
# A second run reinstalls nothing unless pyproject.toml or package-lock.json changed.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
OUT     ?= out/demo

.PHONY: setup system demo test lint bench clean

setup: $(VENV)/.stamp-py node_modules/.stamp-npm

$(VENV)/.stamp-py: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.stamp-npm: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/armlock demo --out $(OUT)

system:
	@tools/system-deps.sh

test: setup system
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/armlock bench

clean:
	rm -rf $(VENV) node_modules out build
