# Two commands: `make demo` and `make test`. Each sets up its own virtual environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The docs site's tools (the docs extra: MkDocs + Material, ~15 MB) are not needed for the demo: `make docs`
# installs them on demand, and `make test` too, so the suite (and CI) builds the site with --strict.
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: setup demo test lint clean serve deploy worker alerts compat docs docs-build

# Operators: a Prefect server (UI + API) on PREFECT_PORT, the deployments on it, and a worker.
PREFECT_PORT ?= 4200
PREFECT_ENV  := PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/tandem demo

# PYTHONDONTWRITEBYTECODE (set on some machines) would make every pytest-xdist worker and every process a test
# starts compile the project's modules and rewrite the test modules again: the tests write their bytecode.
test: $(STAMP) $(DOCS_STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy tandem emulators blocks flows tasks web ops

serve: $(STAMP)
	PREFECT_SERVER_API_PORT=$(PREFECT_PORT) $(BIN)/prefect server start --port $(PREFECT_PORT)

# A connection's deployments, schedules on (its Tandem Sync Connection block must be saved on the server):
# make deploy CONNECTION=acme
deploy: $(STAMP)
	@test -n "$(CONNECTION)" || { echo "usage: make deploy CONNECTION=name (a Tandem Sync Connection block on the server)"; exit 2; }
	$(PREFECT_ENV) $(BIN)/prefect block register -m blocks
	$(PREFECT_ENV) $(BIN)/tandem deploy --connection $(CONNECTION)

worker: $(STAMP)
	$(PREFECT_ENV) $(BIN)/prefect worker start --pool tandem

# Notify through a Prefect notification block when a connection's runs fail, crash, need attention or are
# overdue (docs/operating/alerts.md): make alerts CONNECTION=acme NOTIFY=custom-webhook/ops
alerts: $(STAMP)
	@test -n "$(CONNECTION)" -a -n "$(NOTIFY)" || { echo "usage: make alerts CONNECTION=name NOTIFY=block-type/block-name"; exit 2; }
	$(PREFECT_ENV) $(BIN)/tandem alerts install --connection $(CONNECTION) --notify $(NOTIFY)

# Salesforce and NetSuite clients no one here wrote, run against the emulators (docs/compatibility.md): one venv
# per client under .compat/<client>, from the pinned compat/<client>/requirements.txt, then tests/compat and
# tests/erp_compat.
COMPAT_CLIENTS := airbyte tap-salesforce dlt netsuite
COMPAT_PYTHON  ?= 3.11

.compat/%/.installed: compat/%/requirements.txt | $(STAMP)
	rm -rf .compat/$*
	$(BIN)/uv venv --quiet --python $(COMPAT_PYTHON) .compat/$*
	$(BIN)/uv pip sync --quiet --python .compat/$*/bin/python compat/$*/requirements.txt
	touch $@

compat: $(STAMP) $(COMPAT_CLIENTS:%=.compat/%/.installed)
	$(BIN)/python -m pytest tests/compat tests/erp_compat -q

$(DOCS_STAMP): $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

# The documentation site (mkdocs.yml, docs/): served while you edit, or built strictly into build/site.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

docs-build: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .compat .pytest_cache .mypy_cache .ruff_cache
