# Two commands: `make demo` and `make test`. Each sets up its own virtual environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint clean serve deploy worker alerts

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

test: $(STAMP)
	$(BIN)/python -m pytest

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
# overdue (README: Alerts): make alerts CONNECTION=acme NOTIFY=custom-webhook/ops
alerts: $(STAMP)
	@test -n "$(CONNECTION)" -a -n "$(NOTIFY)" || { echo "usage: make alerts CONNECTION=name NOTIFY=block-type/block-name"; exit 2; }
	$(PREFECT_ENV) $(BIN)/tandem alerts install --connection $(CONNECTION) --notify $(NOTIFY)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
