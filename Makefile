# The two commands of the README: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
LINT_VENV := .venv-lint
LINT_INSTALLED := $(LINT_VENV)/.installed
# The first python3.13 that runs (a pyenv shim does not, without PYENV_VERSION).
PYTHON313 ?= $(shell for p in $$(ls $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null) \
	$$(command -v python3.13); do "$$p" --version >/dev/null 2>&1 && echo "$$p" && break; done)

.PHONY: demo test lint build bench bench-compare fixtures graph clean print-python313 local-invoke sam

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# setuptools warns that a folder named like the package shadows it: here it is the package itself.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(INSTALLED)  ## run samples/ through the pipeline in the offline cloud
	$(BIN)/pipeline run samples/* --parameter-overrides FailureSeed=demo

test: $(INSTALLED)  ## the whole suite (integration tests run only with AWS_SAM_STACK_NAME set)
	$(BIN)/python -m pytest

bench: $(INSTALLED)  ## speed, memory and cold starts; the last line is JSON (ARGS="--ablate PART" and others pass on)
	$(BIN)/python -m pipeline.bench $(ARGS)

bench-compare: $(INSTALLED)  ## this tree against REF=commit in alternating whole runs (ARGS="--rounds 5" and others pass on)
	@test -n "$(REF)" || { echo "make bench-compare REF=<commit>" >&2; exit 2; }
	$(BIN)/python -m pipeline.bench_compare $(REF) $(ARGS)

graph: $(INSTALLED)  ## redraw the state machine in docs/how-it-works.md and docs/state-machine.svg
	$(BIN)/pipeline graph --update-doc docs/how-it-works.md
	$(BIN)/pipeline graph --format svg --output docs/state-machine.svg

fixtures: $(INSTALLED)  ## rewrite events/ from pipeline/events.py
	$(BIN)/python -m pipeline.events events

$(LINT_INSTALLED):
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LINT_VENV)/bin/python -m pip install --quiet aws-sam-cli==1.170.0 cfn-lint==1.58.0 checkov==3.2.459
	touch $@

lint: $(LINT_INSTALLED)  ## cfn-lint, sam validate --lint, checkov: all must be clean
	$(LINT_VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(LINT_VENV)/bin/sam validate --lint
	BC_SKIP_MAPPING=TRUE $(LINT_VENV)/bin/checkov --file template.yaml --framework cloudformation \
		--quiet --compact --skip-download
	@# checkov skips what a condition leaves out at the defaults: scan the optional parts too.
	mkdir -p $(LINT_VENV)/scan && $(LINT_VENV)/bin/python scripts/lint_options.py $(LINT_VENV)/scan/template-options-on.json
	BC_SKIP_MAPPING=TRUE $(LINT_VENV)/bin/checkov --file $(LINT_VENV)/scan/template-options-on.json \
		--framework cloudformation --quiet --compact --skip-download

SAM := $(BIN)/sam

$(SAM): $(INSTALLED) $(LINT_INSTALLED)
	@test -n "$(PYTHON313)" || { echo "sam build needs python3.13 (for example: pyenv install 3.13)"; exit 1; }
	printf '#!/bin/sh\n# The SAM CLI of make lint, with python3.13 first on PATH for sam build.\nPATH="%s:$$PATH" SAM_CLI_TELEMETRY=0 exec "%s" "$$@"\n' \
		"$$(dirname $(PYTHON313))" "$(abspath $(LINT_VENV))/bin/sam" > $@
	chmod +x $@

sam: $(SAM)  ## the SAM CLI (1.170) as .venv/bin/sam, with the python3.13 sam build needs

build: $(LINT_INSTALLED)  ## sam build for python3.13 arm64 (needs python3.13)
	@test -n "$(PYTHON313)" || { echo "sam build needs python3.13 on PATH"; exit 1; }
	PATH="$$(dirname $(PYTHON313)):$$PATH" SAM_CLI_TELEMETRY=0 $(LINT_VENV)/bin/sam build --cached --parallel

# AWS's Lambda base image for the functions, and the stand-in that scripts/standin-lambda-image builds
# on a machine that cannot pull it (tests/sam_local uses AWS's when both are there).
LAMBDA_IMAGE := public.ecr.aws/lambda/python:3.13-arm64
STANDIN_IMAGE := file-pipeline/standin-lambda-python:3.13-arm64

local-invoke: $(INSTALLED) $(LINT_INSTALLED)  ## sam build, then every `sam local invoke` line of the README, checked (needs Docker)
	@if docker info >/dev/null 2>&1 && ! docker image inspect $(LAMBDA_IMAGE) >/dev/null 2>&1 \
		&& ! docker image inspect $(STANDIN_IMAGE) >/dev/null 2>&1; then \
		docker pull --platform linux/arm64 $(LAMBDA_IMAGE); fi
	SAM_LOCAL_REQUIRED=1 $(BIN)/python -m pytest tests/sam_local -v -s

print-python313:
	@echo $(PYTHON313)

clean:
	rm -rf $(VENV) $(LINT_VENV) .aws-sam .pytest_cache
