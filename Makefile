# The verbs users and CI need. `make demo` runs the local pipeline; `make test` runs every check.
# Each target installs what it needs first; a second run skips what is already installed.

PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo test lint typecheck unit functional integration e2e container template-checks build \
	flink-zip events bench clean

help:
	@echo "make demo         run the local pipeline on bundled sample logs (installs what it needs)"
	@echo "make test         lint, type-check, every test layer and the template checks"
	@echo "make unit         the pure-core tests (no engines, no sockets)"
	@echo "make functional   the Lambda handlers run in-process on events/"
	@echo "make integration  the tests on real local engines (OpenSearch, Flink, Spark, Chromium)"
	@echo "make e2e          the whole local pipeline"
	@echo "make container    the functions through sam local in a container"
	@echo "make build        sam build"
	@echo "make flink-zip    build the Managed Flink application zip (build/flink/)"
	@echo "make bench        benchmarks (figures beside their baselines)"
	@echo "make events       regenerate events/ for sam local invoke"
	@echo "make clean        remove environments, build output and local state"

$(VENV)/.installed: pyproject.toml requirements.txt src/requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt -e .
	touch $@

$(SAM_VENV)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-tools.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The demo needs the project environment only: the OpenSearch node builds itself with Maven on first start.
demo: $(VENV)/.installed
	$(VENV)/bin/opsanalytics demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy
	for handler in functions/*/app.py; do $(VENV)/bin/mypy --strict "$$handler" || exit 1; done
	$(VENV)/bin/mypy --strict glue/batch_job.py glue/glue_runtime.py

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

functional: $(VENV)/.installed
	$(VENV)/bin/pytest tests/functional

integration: $(VENV)/.installed
	scripts/install-chromium.sh
	$(VENV)/bin/pytest tests/integration

e2e: $(VENV)/.installed
	$(VENV)/bin/pytest tests/e2e

container: $(VENV)/.installed $(SAM_VENV)/.installed
	scripts/container-engine.sh
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(VENV)/bin/pytest tests/container

# The template as written and as CloudFormation gets it (after the SAM transform), the packages against Lambda's
# limits, and the template against the last release (no change that would destroy a stack's data).
template-checks: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/python scripts/translate_template.py --output build/cloudformation/template.json
	$(SAM_VENV)/bin/cfn-lint build/cloudformation/template.json
	$(SAM_VENV)/bin/sam build
	$(VENV)/bin/python -m scripts.check_package_sizes --build-dir .aws-sam/build
	$(VENV)/bin/python -m scripts.check_upgrade
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

flink-zip: $(VENV)/.installed
	$(VENV)/bin/python flink/build_zip.py

test: lint typecheck template-checks flink-zip
	scripts/install-chromium.sh
	scripts/container-engine.sh
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(VENV)/bin/pytest tests

build: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build

events: $(VENV)/.installed
	$(VENV)/bin/python -m scripts.generate_events

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/bench_transformer.py
	$(VENV)/bin/python bench/bench_realtime.py
	$(VENV)/bin/python bench/bench_bulk.py
	$(VENV)/bin/python bench/bench_metrics_processor.py
	$(VENV)/bin/python bench/bench_batch.py
	$(VENV)/bin/python bench/bench_batch_hourly.py
	$(VENV)/bin/python bench/bench_pipeline.py
	$(VENV)/bin/python bench/bench_log_index.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .local build .pytest_cache .mypy_cache .ruff_cache .hypothesis
