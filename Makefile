# Two promises: `make run` serves the API locally (embedded PostgreSQL, no Docker) and
# `make test` runs every test. Both build the virtual environment they need first.
# Python 3.13, the functions' runtime: `python3.13` when it runs, else pyenv's 3.13 (a pyenv
# shim for a version that is installed but not selected fails, as on these machines).
ifndef PYTHON
PYTHON := $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),\
            $(if $(shell $(p) -c 'import sys; print(sys.version_info[:2] == (3, 13))' 2>/dev/null | grep True),$(p))))
endif
ifeq ($(strip $(PYTHON)),)
$(error Python 3.13 not found: install it (python3.13 on the PATH), or name it: make PYTHON=/path/to/python3.13)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run demo test test-unit test-integration test-e2e test-emitter-pythons chromium lint typecheck \
        check validate build migrate purge invoke rollups-run rollups-backfill rollups-status \
        rollups-service-usage rollups-blocks openapi openapi-check tracker tracker-check tracker-size \
        dashboard-vendor dashboard-check dashboard-size \
        bench-webhook bench-events bench-rollups bench-metrics bench-emitter lock clean

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# make run fires the rollup every minute, so a new beacon shows in the metrics a minute
# later; LOCAL_ROLLUP_SCHEDULE= (empty) keeps the template's hourly schedule.
LOCAL_ROLLUP_SCHEDULE ?= rate(1 minute)

run: $(STAMP) ## serve every route of template.yaml on 127.0.0.1:$${PORT:-3000} and fire its schedules
	$(BIN)/python -m funnel_local serve \
	  $(if $(LOCAL_ROLLUP_SCHEDULE),--schedule 'RollupFunction=$(LOCAL_ROLLUP_SCHEDULE)')

demo: $(STAMP) ## 90 days of demo data for two sites, through the handlers, rolled up: make demo [RESET=1]
	$(BIN)/python -m funnel_local demo $(if $(RESET),--reset)

test: $(STAMP) chromium ## the whole suite: unit, integration (real PostgreSQL, moto) and end to end
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP) chromium
	$(BIN)/python -m pytest tests/e2e

# The emitter's tests that need only the standard library and pytest, run on every Python
# the package supports that this machine has, each in a small venv of its own.
EMITTER_PYTHONS ?= python3.10 python3.11 python3.12 python3.13
EMITTER_TESTS := tests/unit/test_emitter.py tests/unit/test_emitter_events.py tests/unit/test_emitter_outbox.py \
                 tests/unit/test_emitter_background.py tests/unit/test_emitter_cli.py

test-emitter-pythons: ## the emitter's tests on each of $(EMITTER_PYTHONS) found here
	@set -e; for py in $(EMITTER_PYTHONS); do \
	  if ! $$py -c 'import sys' >/dev/null 2>&1; then echo "== $$py: not on this machine, skipped"; continue; fi; \
	  venv=.venv-emitter/$$py; \
	  if [ ! -f $$venv/.installed ] || [ emitter/requirements-test.txt -nt $$venv/.installed ]; then \
	    rm -rf $$venv && $$py -m venv $$venv && \
	    $$venv/bin/python -m pip install --quiet -r emitter/requirements-test.txt && touch $$venv/.installed; \
	  fi; \
	  echo "== $$py ($$($$venv/bin/python -c 'import platform; print(platform.python_version())'))"; \
	  PYTHONPATH=emitter:layers/funnel:. $$venv/bin/python -m pytest --noconftest -p no:cacheprovider -q \
	    $(EMITTER_TESTS); \
	done

# The browser tests drive Debian's chromium (never a browser Playwright downloads); a fresh
# machine gets it here when make runs as root (CI does), or is told what to install.
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need Debian's chromium at $(CHROMIUM):" \
	         "sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	    exit 1; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy layers/funnel/funnel functions tools emitter

validate: $(STAMP) ## sam validate with cfn-lint; no AWS account needed
	$(BIN)/sam validate --lint

# sam build finds the runtime's Python (python3.13) on PATH: the virtual environment's.
build: $(STAMP) ## sam build, without containers
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

check: lint typecheck openapi-check tracker-check dashboard-check test test-emitter-pythons validate build

# The operator commands run `python -m funnel_ops` on DATABASE_URL (or DB_SECRET_ARN); with
# neither set, on the embedded server make run uses (started if needed), migrated first.
OPS := $(BIN)/python -m funnel_local ops

migrate: $(STAMP) ## apply pending migrations (DATABASE_URL, else the local embedded server)
	$(OPS) migrate

invoke: $(STAMP) ## make invoke FUNCTION=WebhookIngestFunction EVENT=events/webhook_ingest/tenant_created.json
	$(BIN)/python -m funnel_local invoke $(FUNCTION) --event $(EVENT)

openapi: $(STAMP) ## write openapi.json, the OpenAPI document of every route, from the handlers' models
	$(BIN)/python -m funnel_local openapi

openapi-check: $(STAMP) ## fail when openapi.json is not what the code generates (run `make openapi`)
	$(BIN)/python -m funnel_local openapi --check

# The tracker (tracker/src/funnel.js) is minified by terser, pinned in tracker/package-lock.json.
TRACKER_DEPS := tracker/node_modules/.package-lock.json

$(TRACKER_DEPS): tracker/package.json tracker/package-lock.json
	cd tracker && npm ci --no-audit --no-fund

tracker: $(TRACKER_DEPS) ## build functions/assets/static/funnel.js (what GET /funnel.js serves) from tracker/src
	node tracker/build.mjs

tracker-check: $(TRACKER_DEPS) ## fail when the served funnel.js is not what its source builds to, or is over budget
	node tracker/build.mjs --check

tracker-size: $(TRACKER_DEPS) ## gzipped sizes of funnel.js with and without web vitals; fails over 3 KB / 2 KB
	node tracker/build.mjs --size

# The dashboard's chart library (uPlot) is vendored from the npm package pinned in
# dashboard/package-lock.json; its own files are served as committed.
DASHBOARD_DEPS := dashboard/node_modules/.package-lock.json

$(DASHBOARD_DEPS): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund

dashboard-vendor: $(DASHBOARD_DEPS) ## copy the pinned uPlot and its licence into functions/assets/static/dashboard
	node dashboard/vendor.mjs

dashboard-check: $(DASHBOARD_DEPS) ## fail when the vendored uPlot is not the pinned package's, or the page is over budget
	node dashboard/vendor.mjs --check

dashboard-size: ## gzipped size of every file the dashboard loads; fails over 150 KB
	node dashboard/vendor.mjs --size

purge: $(STAMP) ## the retention purge the daily schedule runs: make purge [DRY_RUN=1]
	$(OPS) purge $(if $(DRY_RUN),--dry-run)

rollups-run: $(STAMP) ## roll up today, the previous ROLLUP_BATCH_DAYS days and dirty days (what the schedule runs)
	$(OPS) rollups-run

rollups-backfill: $(STAMP) ## make rollups-backfill FROM=2026-01-01 TO=2026-01-31 [PROPERTY=default] [DRY_RUN=1]
	$(OPS) rollups-backfill --from $(FROM) --to $(TO) \
	  $(if $(PROPERTY),--property-id $(PROPERTY)) $(if $(DRY_RUN),--dry-run)

rollups-status: $(STAMP) ## freshness, the latest rollup runs and the discrepancies they found
	$(OPS) rollups-status

rollups-blocks: $(STAMP) ## rebuild the pre-merged visitor sketches of stored days: make rollups-blocks FROM=... TO=...
	$(OPS) rollups-blocks --from $(FROM) --to $(TO)

rollups-service-usage: $(STAMP) ## service usage only: make rollups-service-usage [FROM=... TO=...] [DRY_RUN=1]
	$(OPS) rollups-service-usage $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)) \
	  $(if $(DRY_RUN),--dry-run)

bench-webhook: $(STAMP) ## webhook deliveries/s through the handler vs plain INSERTs/s
	$(BIN)/python -m benchmarks.bench_webhook

bench-events: $(STAMP) ## beacon events/s through POST /v1/events vs executemany INSERTs/s
	$(BIN)/python -m benchmarks.bench_events

bench-rollups: $(STAMP) ## time to roll up a day of 1M and 2M events vs one GROUP BY scan of it
	$(BIN)/python -m benchmarks.bench_rollups

bench-emitter: $(STAMP) ## emitter events/s with the outbox vs without it, and enqueue/s vs plain synced INSERTs/s
	$(BIN)/python -m benchmarks.bench_emitter

bench-metrics: $(STAMP) ## p50/p95 of a 90-day summary and of visitors now at 1x and 10x data, p95 ratios
	$(BIN)/python -m benchmarks.bench_metrics

.PHONY: bench-coldstart
bench-coldstart: build ## each function's cold start (import, first invocation) built and laid out as in Lambda, ÷ the floor
	$(BIN)/python -m benchmarks.bench_coldstart

.PHONY: bench-concurrency
bench-concurrency: $(STAMP) ## ingest events/s and lock waits at 1, 4, 16 connections, before/after; SMOKE=1: CI's short run
	$(BIN)/python -m benchmarks.bench_concurrency $(if $(SMOKE),--smoke)

lock: ## regenerate requirements-dev.txt from requirements-dev.in in a scratch venv
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet -r requirements-dev.in
	(echo "# Generated from requirements-dev.in by 'make lock'; do not edit by hand."; \
	  .lockvenv/bin/python -m pip freeze --exclude-editable) > requirements-dev.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .venv-emitter .aws-sam .pytest_cache .mypy_cache .ruff_cache tracker/node_modules
