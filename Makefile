# workshop-hub: every command lives here. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := node_modules/.bin/cdk
# What `make up` needs, and what `make test` adds (chromium for the participant's path in a real browser).
SANDBOX_DEBIAN_PACKAGES := git passwd
DEBIAN_PACKAGES := $(SANDBOX_DEBIAN_PACKAGES) shellcheck cloud-guest-utils e2fsprogs xfsprogs fdisk util-linux \
	chromium chromium-driver faketime
# `make test-future`: the layers whose code compares times with the clock, again with the date moved ahead.
# Not agent/ (hubagent's only clock reading, activity, takes its now from the tests), plan/ (notebooks measured,
# no dates), packaging/ (a wheel built and installed).
FUTURE ?= +5y
FUTURE_LAYERS ?= tests/unit tests/infra tests/integration

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help setup sandbox-setup up down clean-sandbox plan synth test test-future lint unit agent infra integration \
	packaging e2e deploy diff bench clean

help: ## list the commands
	@grep -E '^[a-z0-9 -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
	  '{ n = split($$1, names, " "); for (i = 1; i <= n; i++) printf "  make %-14s %s\n", names[i], $$2 }'

setup: $(BIN)/.installed node_modules/.installed $(VENV)/.debian-packages ## install everything (venv, npm tools, Debian packages)

sandbox-setup: $(BIN)/.installed-sandbox node_modules/.installed-sandbox $(VENV)/.debian-sandbox ## install what `make up` runs, nothing more

$(BIN)/.installed-sandbox: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[sandbox]'
	touch $@

$(BIN)/.installed: $(BIN)/.installed-sandbox pyproject.toml stacks/lambda-requirements.txt
	$(BIN)/pip install --quiet -e '.[sandbox,cdk,dev,plan]'
	# The Lambda asset's pinned wheels (stacks/lambda-requirements.txt), fetched once: later synths are offline.
	$(BIN)/python -c 'from stacks import bundles; bundles.dependency_files()'
	touch $@

# npm ci --omit=dev installs the proxy alone; after a full install there is nothing to do.
node_modules/.installed-sandbox: package.json package-lock.json
	if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then \
	  npm ci --omit=dev --no-audit --no-fund --loglevel=error; fi
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@ node_modules/.installed-sandbox

# Installs those of $(1) that are missing, naming them on one line.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || printf '%s ' $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

$(VENV)/.debian-sandbox:
	$(call apt_install,$(SANDBOX_DEBIAN_PACKAGES))
	mkdir -p $(VENV) && touch $@

$(VENV)/.debian-packages:
	$(call apt_install,$(DEBIAN_PACKAGES))
	mkdir -p $(VENV) && touch $@ $(VENV)/.debian-sandbox

up: sandbox-setup ## run it: start the local sandbox (moto as AWS, a real JupyterHub) in the background
	$(BIN)/python -m sandbox up $(if $(CONFIG),--config $(CONFIG)) $(if $(HUB_PORT),--hub-port $(HUB_PORT))

down: sandbox-setup ## stop everything `make up` started (it keeps roster, homes, history: the next up goes on)
	$(BIN)/python -m sandbox down

clean-sandbox: sandbox-setup ## stop the sandbox and delete all it keeps (says what): the next up starts from nothing
	$(BIN)/python -m sandbox clean

plan: setup ## synthesize the stacks and print what a deploy makes (resources, outputs, cdk-nag)
	$(BIN)/python -m stacks.preview

synth: setup ## synthesize the CloudFormation templates into cdk.out (cdk-nag runs)
	$(CDK) synth --no-notices --quiet

test: setup lint ## run every test layer (unit, agent, infra, integration, packaging), cdk-nag, cfn-lint, checkov, the IAM contract check, then test-future
	$(BIN)/pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-future

# libfaketime moves the wall clock of pytest and of every process it starts (hub, moto, node, git); the
# monotonic clock stays real (else timed lock waits hang), and the .pth makes Python's time.sleep work
# there (tests/support/faketime_sleep.py). Tests marked real_clock are left out, each with its reason.
# FAKETIME_CACHE_DURATION: libfaketime re-reads $FAKETIME with getenv() when its cache expires (10 s), racing
# another thread's setenv (a segfault seen once); the offset never changes, so it is read once.
test-future: setup ## the time-sensitive layers again with the date moved ahead (FUTURE=+5y, faketime's syntax)
	$(call apt_install,faketime)
	printf '%s\n' 'import os; os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1" and __import__("runpy").run_path("$(CURDIR)/tests/support/faketime_sleep.py")' \
	  > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/workshop-hub-faketime.pth"
	FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_CACHE_DURATION=86400 faketime -f '$(FUTURE)' $(BIN)/pytest -q -p no:cacheprovider -m 'not real_clock' \
	  $(FUTURE_LAYERS)

lint: setup ## ruff, mypy and shellcheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || { echo "run: $(BIN)/ruff format ."; exit 1; }
	$(BIN)/mypy
	git ls-files -z '*.sh' | xargs -0 -r shellcheck

unit agent infra integration packaging: setup ## one test layer (tests/<name>)
	$(BIN)/pytest -q tests/$@

e2e: setup ## against the deployed hub (real AWS, your credentials; a test participant only, or WORKSHOP_HUB_E2E_DESTRUCTIVE=1)
	WORKSHOP_HUB_E2E=1 $(BIN)/pytest -q tests/e2e

deploy: setup ## deploy to the AWS account of your credentials
	$(CDK) deploy --no-notices --all --require-approval broadening

diff: setup ## show what a deploy would change
	$(CDK) diff --no-notices --all

bench: setup ## print the benchmarks' numbers
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean: ## remove build output (keeps the venv and node_modules)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
