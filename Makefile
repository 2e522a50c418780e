# The two commands of the README: `make demo` and `make test`. Each creates .venv on first use.
#   make test                          core tests (the [train]/[serve] tests skip with a reason)
#   make test EXTRAS=dev,train,serve   everything, as CI runs it (llama-cpp-python builds from source, ~7 min)
#   make demo                          the whole loop; adds the [train] extra (models compared in-process;
#                                      with EXTRAS=dev,serve, `manage.py demo --serve-gguf` serves them with llama.cpp)
#   make serve [PORT=8000]             the API under uvicorn (ASGI, WEB_CONCURRENCY processes), this environment's settings
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
PORT ?= 8000
HOST ?= 127.0.0.1
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test lint format install clean serve

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="$${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" \
		$(BIN)/pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

demo:
	$(MAKE) --no-print-directory install EXTRAS=$(EXTRAS),train
	$(BIN)/python manage.py demo

# deploy/serve.sh: uvicorn with WEB_CONCURRENCY worker processes (default 2), graceful on SIGTERM (make passes
# it on), metrics summed over the workers (PROMETHEUS_MULTIPROC_DIR). The compose file's web service runs it too.
serve: install
	PATH="$(CURDIR)/$(BIN):$$PATH" HOST=$(HOST) PORT=$(PORT) exec deploy/serve.sh

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 media demo-output .pytest_cache
