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
# The public repository address: `make build` (a release build) needs it (docs/release.md).
REPOSITORY_URL ?=
# Test-only address for `make galaxy-check` (.invalid never resolves, RFC 2606); the build
# script refuses it for a release build.
GALAXY_CHECK_URL := https://galaxy-check.invalid/twzrd/ops
# galaxy-importer and antsibull-changelog live in their own venv: galaxy-importer's pins would
# downgrade packages of .venv (requirements/release.txt).
RELEASE_VENV := $(BUILD)/release-venv

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)

.PHONY: help run test checks integration-workers integration-host-wide deps system-deps venv node-tools collection sanity lint generate unit integration fuzz bench build clean \
        molecule molecule-deps release-venv galaxy-check changelog-lint changelog changelog-release

help:
	@echo "make run          on-demand health report of this machine (read-only)"
	@echo "make test         everything CI runs: sanity, lint, galaxy-check, unit, integration, molecule"
	@echo "make sanity|lint|galaxy-check|unit|integration|molecule|bench   one part"
	@echo "make checks       sanity, lint, galaxy-check and unit (make -j2 checks: two at a time)"
	@echo "make build REPOSITORY_URL=https://...   release tarball in .build/ (docs/release.md)"
	@echo "make generate     rewrite the files derived from the check registry (plugins/module_utils/checks/)"
	@echo "make fuzz         the Hypothesis suite, long and randomized"

# ansible-core 2.19 imports DSA from cryptography, which (51 here) warns on every start that DSA is deprecated: noise in a report
# that is meant to be quiet unless something is wrong. Only that one warning, from that one module.
run: venv collection
	@PYTHONWARNINGS='ignore::UserWarning:ansible._internal._ssh._ssh_agent' $(BIN)/ansible-playbook -i localhost, -c local playbooks/health.yml \
	  -e ansible_python_interpreter=$(BIN)/python \
	  -e twzrd_state_file=$${TWZRD_STATE_FILE:-/var/lib/twzrd/state.json}

# sanity, lint, galaxy-check, unit and the host_wide integration tests each keep one core busy: two
# at a time (make -j2), before the integration workers and molecule, which use both cores themselves
# (and start PM2 daemons the host_wide tests would count). The shared prerequisites are made first,
# once, so no two of them install the same thing at the same time.
test: deps release-venv
	@$(MAKE) --no-print-directory -j2 --output-sync=target checks integration-host-wide
	@$(MAKE) --no-print-directory integration-workers
	@$(MAKE) --no-print-directory molecule

checks: sanity lint galaxy-check unit

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

# Files derived from the check registry (plugins/module_utils/checks/); a unit test fails when stale.
generate: venv collection
	@$(BIN)/python scripts/generate.py
	@$(BIN)/python scripts/gen_runner_shared.py

unit: venv collection
	@$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

# On INTEGRATION_WORKERS xdist workers (most tests wait on PostgreSQL, PM2 or a subprocess), then the
# host_wide tests alone: PM2 discovery counts every daemon on the host, other workers' too. One after
# the other in the recipe (not as prerequisites, which make -j would run side by side).
# pytest's exit 5 ("no tests collected") is fine when PYTEST_ARGS selects tests of one part only.
INTEGRATION_WORKERS ?= 2
integration: deps
	@$(MAKE) --no-print-directory integration-workers
	@$(MAKE) --no-print-directory integration-host-wide

integration-workers: deps
	@TWZRD_PM2=$(PM2) $(BIN)/python -m pytest tests/integration -q -rs -n $(INTEGRATION_WORKERS) --dist worksteal \
	  -m 'not host_wide' $(PYTEST_ARGS) || [ $$? -eq 5 ]

integration-host-wide: deps
	@TWZRD_PM2=$(PM2) $(BIN)/python -m pytest tests/integration -q -rs -m host_wide $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The Hypothesis suite with twenty times the examples, randomized (make integration runs the short one).
fuzz: deps
	@TWZRD_FUZZ=1 TWZRD_PM2=$(PM2) $(BIN)/python -m pytest tests/integration/test_fuzz*.py -q $(PYTEST_ARGS)

bench: deps
	@$(BIN)/python -m bench

# Release tarball: galaxy.yml plus repository/homepage/documentation/issues from REPOSITORY_URL.
build: venv
	@$(BIN)/python scripts/build_collection.py --output-path $(BUILD) --repository-url "$(REPOSITORY_URL)"

release-venv: $(RELEASE_VENV)/.installed
$(RELEASE_VENV)/.installed: requirements/release.txt
	@[ -x $(RELEASE_VENV)/bin/python ] || $(PYTHON) -m venv $(RELEASE_VENV)
	@$(RELEASE_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/release.txt
	@touch $@

# Fragments and changelogs/changelog.yaml are valid (ansible-test sanity runs the first too).
changelog-lint: release-venv
	@$(RELEASE_VENV)/bin/antsibull-changelog lint
	@$(RELEASE_VENV)/bin/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

# Release notes (docs/release.md): `changelog-release` turns the fragments into the release of
# galaxy.yml's version (it lists new modules and roles with the release venv's ansible-doc) and
# writes CHANGELOG.md; `changelog` only regenerates CHANGELOG.md.
changelog-release: release-venv
	@PATH=$(RELEASE_VENV)/bin:$$PATH antsibull-changelog release

changelog: release-venv
	@$(RELEASE_VENV)/bin/antsibull-changelog generate

# galaxy-importer on the tarball, as Galaxy imports it: no error and no warning allowed.
galaxy-check: venv release-venv changelog-lint
	@rm -rf $(BUILD)/galaxy-check
	@$(BIN)/python scripts/build_collection.py --check-only --output-path $(BUILD)/galaxy-check \
	  --repository-url "$(or $(REPOSITORY_URL),$(GALAXY_CHECK_URL))"
	@scripts/galaxy-check.sh $(RELEASE_VENV) $(BUILD)/galaxy-check/twzrd-ops-*.tar.gz

clean:
	rm -rf $(BUILD) tests/output .pytest_cache

# Molecule: the install role on systemd Debian containers (podman + runc, a local
# image built by debootstrap; docs/design.md, "Molecule on this machine").
# MOLECULE_SCENARIOS=default runs one; several run side by side (scripts/molecule-scenarios.sh).
MOLECULE_SCENARIOS ?= default fullstack

molecule: venv collection molecule-deps
	@MOLECULE=$(BIN)/molecule scripts/molecule-scenarios.sh $(MOLECULE_SCENARIOS)

molecule-deps: venv
	@scripts/install-molecule-deps.sh
	@scripts/build-molecule-image.sh
	@PYTHON=$(BIN)/python scripts/molecule-collections.sh
