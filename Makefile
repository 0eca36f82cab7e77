# Two promises: `make run` serves the API locally (embedded PostgreSQL, no Docker) and
# `make test` runs every test. Both build the virtual environment they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test test-unit test-integration test-e2e lint typecheck check validate build \
        migrate invoke rollups-run rollups-backfill rollups-status rollups-service-usage rollups-blocks \
        openapi openapi-check bench-webhook bench-events bench-rollups bench-metrics lock clean

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP) ## serve every route of template.yaml on 127.0.0.1:$${PORT:-3000}
	$(BIN)/python -m funnel_local serve

test: $(STAMP) ## the whole suite: unit, integration (real PostgreSQL, moto) and end to end
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy layers/funnel/funnel functions tools emitter

validate: $(STAMP) ## sam validate with cfn-lint; no AWS account needed
	$(BIN)/sam validate --lint

build: $(STAMP) ## sam build, without containers
	$(BIN)/sam build

check: lint typecheck openapi-check test validate build

migrate: $(STAMP) ## apply migrations to DATABASE_URL
	$(BIN)/python -m funnel migrate

invoke: $(STAMP) ## make invoke FUNCTION=WebhookIngestFunction EVENT=events/webhook_ingest/tenant_created.json
	$(BIN)/python -m funnel_local invoke $(FUNCTION) --event $(EVENT)

openapi: $(STAMP) ## write openapi.json, the OpenAPI document of every route, from the handlers' models
	$(BIN)/python -m funnel_local openapi

openapi-check: $(STAMP) ## fail when openapi.json is not what the code generates (run `make openapi`)
	$(BIN)/python -m funnel_local openapi --check

rollups-run: $(STAMP) ## roll up today and the previous ROLLUP_BATCH_DAYS days (what the schedule runs)
	$(BIN)/python -m funnel rollups-run

rollups-backfill: $(STAMP) ## make rollups-backfill FROM=2026-01-01 TO=2026-01-31 [PROPERTY=default] [DRY_RUN=1]
	$(BIN)/python -m funnel rollups-backfill --from $(FROM) --to $(TO) \
	  $(if $(PROPERTY),--property-id $(PROPERTY)) $(if $(DRY_RUN),--dry-run)

rollups-status: $(STAMP) ## freshness, the latest rollup runs and the discrepancies they found
	$(BIN)/python -m funnel rollups-status

rollups-blocks: $(STAMP) ## rebuild the pre-merged visitor sketches of stored days: make rollups-blocks FROM=... TO=...
	$(BIN)/python -m funnel rollups-blocks --from $(FROM) --to $(TO)

rollups-service-usage: $(STAMP) ## service usage only: make rollups-service-usage [FROM=... TO=...] [DRY_RUN=1]
	$(BIN)/python -m funnel rollups-service-usage $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)) \
	  $(if $(DRY_RUN),--dry-run)

bench-webhook: $(STAMP) ## webhook deliveries/s through the handler vs plain INSERTs/s
	$(BIN)/python -m benchmarks.bench_webhook

bench-events: $(STAMP) ## beacon events/s through POST /v1/events vs executemany INSERTs/s
	$(BIN)/python -m benchmarks.bench_events

bench-rollups: $(STAMP) ## time to roll up a day of 1M and 2M events vs one GROUP BY scan of it
	$(BIN)/python -m benchmarks.bench_rollups

bench-metrics: $(STAMP) ## p50/p95 of a 90-day summary (compareTo, includeFunnel) at 1x and 10x data, p95 ratio
	$(BIN)/python -m benchmarks.bench_metrics

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
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
