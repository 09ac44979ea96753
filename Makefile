# The verbs users and CI need. `make demo` runs the local pipeline; `make test` runs every check.
# Each target installs what it needs first; a second run skips what is already installed.

PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup native spark-archive demo test lint typecheck unit integration e2e container template-checks build flink-zip events bench clean

help:
	@echo "make demo       run the local pipeline on bundled sample logs (installs what it needs)"
	@echo "make test       lint, type-check, every test layer and the template checks"
	@echo "make build      sam build"
	@echo "make native     build the native fast path of the Firehose transformer into .venv (needs Rust's cargo)"
	@echo "make flink-zip  build the Managed Flink application zip (build/flink/)"
	@echo "make spark-archive  build the local Spark JVM's class-data-sharing archive (.local/spark-cds/)"
	@echo "make bench      benchmarks (figures beside their baselines)"
	@echo "make events     regenerate events/ for sam local invoke"
	@echo "make clean      remove environments, build output and local state"

$(VENV)/.installed: pyproject.toml requirements.txt src/requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt -e .
	touch $@

# The native fast path (native/, Rust + PyO3) installed into .venv: the manylinux2014 wheel the Lambda layer
# carries too (layer/Makefile builds it once, again only when native/ changes).
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock native/pyproject.toml native/requirements-build.txt \
	$(wildcard native/src/*.rs)

$(VENV)/.native: $(VENV)/.installed $(NATIVE_SOURCES)
	$(MAKE) --no-print-directory -f layer/Makefile native-wheel PYTHON=$(PYTHON)
	$(VENV)/bin/pip install -q --no-deps --force-reinstall build/native-wheels/opsanalytics_native-*.whl
	touch $@

native: $(VENV)/.native

$(SAM_VENV)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-tools.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The local Spark JVM's class-data-sharing archive (opsanalytics.engines.spark_jvm): built once per JDK and
# PySpark install (~30 s). Batch runs without it are only slower, so a failure here stops nothing.
spark-archive: $(VENV)/.native
	-$(VENV)/bin/python -m opsanalytics.engines.spark_jvm build-archive

demo: $(VENV)/.native spark-archive
	$(VENV)/bin/opsanalytics demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.native
	$(VENV)/bin/mypy
	for handler in functions/*/app.py; do $(VENV)/bin/mypy --strict "$$handler" || exit 1; done
	$(VENV)/bin/mypy --strict glue/batch_job.py glue/glue_runtime.py

unit: $(VENV)/.native
	$(VENV)/bin/pytest -m "not integration and not e2e and not container" tests

integration: $(VENV)/.native spark-archive
	scripts/install-chromium.sh
	$(VENV)/bin/pytest -m integration tests

e2e: $(VENV)/.native spark-archive
	$(VENV)/bin/pytest -m e2e tests

container: $(VENV)/.native $(SAM_VENV)/.installed
	scripts/container-engine.sh
	$(VENV)/bin/pytest -m container tests

template-checks: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam build
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

flink-zip: $(VENV)/.installed
	$(VENV)/bin/python flink/build_zip.py

test: lint typecheck template-checks flink-zip $(VENV)/.native spark-archive
	scripts/install-chromium.sh
	scripts/container-engine.sh
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(VENV)/bin/pytest tests

build: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build

events: $(VENV)/.installed
	$(VENV)/bin/python -m scripts.generate_events

bench: $(VENV)/.native spark-archive
	$(VENV)/bin/python bench/bench_transformer.py
	$(VENV)/bin/python bench/bench_realtime.py
	$(VENV)/bin/python bench/bench_bulk.py
	$(VENV)/bin/python bench/bench_metrics_processor.py
	$(VENV)/bin/python bench/bench_batch.py
	$(VENV)/bin/python bench/bench_pipeline.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .venv-native-build native/target .aws-sam .local .pytest_cache .mypy_cache .ruff_cache .hypothesis
