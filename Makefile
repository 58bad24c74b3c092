# twzrd.ops — developer entry points. `make run` and `make test` are the two
# commands README.md promises on a fresh Debian machine (root, package
# registries only); every other target is a piece of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON     ?= python3
VENV       ?= $(CURDIR)/.venv
BIN        := $(VENV)/bin
BUILD      := $(CURDIR)/.build
# The repo root is the collection root; Ansible finds it through this link.
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/twzrd/ops
NODE_DIR   := $(CURDIR)/tests/node
PM2        := $(NODE_DIR)/node_modules/.bin/pm2
PYTEST_ARGS ?=

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)

.PHONY: help run test deps system-deps venv node-tools collection sanity lint unit integration fuzz bench build clean \
        molecule molecule-deps

help:
	@echo "make run          on-demand health report of this machine (read-only)"
	@echo "make test         everything CI runs: sanity, lint, unit, integration, molecule"
	@echo "make sanity|lint|unit|integration|molecule|bench   one part"
	@echo "make fuzz         the Hypothesis suite, long and randomized"

run: venv collection
	@$(BIN)/ansible-playbook -i localhost, -c local playbooks/health.yml \
	  -e ansible_python_interpreter=$(BIN)/python \
	  -e twzrd_state_file=$${TWZRD_STATE_FILE:-/var/lib/twzrd/state.json}

test: sanity lint unit integration molecule

deps: system-deps venv node-tools collection

# Debian packages the tests use for real: cron, logrotate, PostgreSQL 15, Node.js.
system-deps:
	@scripts/install-system-deps.sh

venv: $(VENV)/.installed
$(VENV)/.installed: requirements/dev.txt
	@PYTHON=$(PYTHON) scripts/bootstrap-venv.sh $(VENV)
	@touch $@

node-tools: $(PM2)
$(PM2): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || scripts/install-system-deps.sh
	@cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

collection:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

sanity: venv system-deps
	@scripts/sanity.sh

lint: venv collection
	@cd $(CURDIR) && $(BIN)/ansible-lint --profile production --offline

unit: venv collection
	@$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

integration: deps
	@TWZRD_PM2=$(PM2) $(BIN)/python -m pytest tests/integration -q $(PYTEST_ARGS)

# The Hypothesis suite with twenty times the examples, randomized (make integration runs the short one).
fuzz: deps
	@TWZRD_FUZZ=1 TWZRD_PM2=$(PM2) $(BIN)/python -m pytest tests/integration/test_fuzz.py -q $(PYTEST_ARGS)

bench: deps
	@$(BIN)/python -m bench

build: venv
	@$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)

clean:
	rm -rf $(BUILD) tests/output .pytest_cache

# Molecule: the install role on systemd Debian containers (podman + runc, a local
# image built by debootstrap; DESIGN.md "Molecule on this machine").
# MOLECULE_SCENARIOS=default runs one.
MOLECULE_SCENARIOS ?= default fullstack

molecule: venv collection molecule-deps
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "== molecule test -s $$s"; \
	  SECONDS=0; $(BIN)/molecule test -s $$s || exit 1; echo "== $$s: $${SECONDS}s"; \
	done

molecule-deps: venv
	@scripts/install-molecule-deps.sh
	@scripts/build-molecule-image.sh
	@PYTHON=$(BIN)/python scripts/molecule-collections.sh
