# Firebreak: `make run` starts the bot with Agents Playground; `make test` runs every test.
# Both do all set-up themselves on a fresh machine (virtualenv, pinned installs, npm/apt tools).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: setup tools run test test-fast bench manifest clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# Outside tools for the real-peer tests: Debian Chromium, PostgreSQL, and Agents Playground (npm, pinned).
tools: setup
	bash scripts/install_test_tools.sh

run: setup
	$(BIN)/python scripts/dev_run.py

# A hung test fails the run after 25 minutes instead of holding CI for its whole budget.
test: tools
	timeout --signal=INT 1500 $(BIN)/python -m pytest -q -p no:cacheprovider

# Unit, dialog and HTTP tests only (no browser, no outside servers).
test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not realpeer"

bench: setup
	$(BIN)/python bench/turns.py

# N incidents in S seconds against a connector that throttles like Teams (bench/announce.py).
.PHONY: bench-announce
bench-announce: setup
	$(BIN)/python bench/announce.py

manifest: setup
	$(BIN)/python app.py manifest build

clean:
	rm -rf $(VENV) build node_modules devTools test-output

# 2,000 escalations falling due over 60 s: page lateness and event-loop stall (bench/escalation.py).
.PHONY: bench-escalation
bench-escalation: setup
	$(BIN)/python bench/escalation.py
