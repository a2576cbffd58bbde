# QAForge: `make run` serves the app with demo data; `make test` runs the whole suite. Both build .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
QAFORGE_PORT ?= 8000
export DEBUG ?= 1

# A Python >= 3.12 (Django 6 needs it): the newest found on PATH or under pyenv.
PYTHON_CANDIDATES := python3.14 python3.13 python3.12 $(sort $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python)) python3
define find_python
for c in $(PYTHON_CANDIDATES); do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
    command -v $$c; break; fi; done
endef

.PHONY: run test bench lint format setup demo clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then rm -rf $(VENV); fi
	@if [ ! -x $(PY) ]; then \
	  py="$$($(find_python))"; \
	  if [ -z "$$py" ]; then echo "QAForge needs Python 3.12 or newer and none was found (tried: $(PYTHON_CANDIDATES)). Install one, e.g. 'pyenv install 3.13'." >&2; exit 1; fi; \
	  echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

# Local settings for this checkout, read by the web server, the worker and every `.venv/bin/python manage.py`
# command (qaforge/settings.py loads it). Written once; edit it freely (e.g. add GEMINI_API_KEY=...).
.env:
	@printf '%s\n' '# QAForge local settings (written by make run; the real environment wins over this file).' \
	  '# See README.md, "Configuration", for every variable.' 'DEBUG=1' > $@

# Quiet set-up, then the web server and the worker (`manage.py serve`), which prints the address and the demo login
# once the server answers and the worker has run a task. Ctrl-C hands running jobs back to the queue and stops both
# within seconds; make ends with status 0 (a second Ctrl-C stops them at once).
run: setup .env
	@$(PY) manage.py migrate --no-input --verbosity 0
	@$(PY) manage.py collectstatic --no-input --verbosity 0
	@$(PY) manage.py demo --verbosity 0
	@echo "Starting QAForge (web server and worker)…"
	@$(PY) manage.py serve --host $(HOST) --port $(QAFORGE_PORT)

# Two pytest-xdist workers (CI has two cores; the suite mostly waits on subprocesses), each keeping the order
# tests/conftest.py sets, tests sharing a module's cluster or server on one worker. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

bench: setup
	$(PY) bench/generation.py
	$(PY) bench/jobs.py
	$(PY) bench/engine_cpu.py
	$(PY) bench/throughput.py
	$(PY) bench/sse.py
	$(PY) bench/export.py
	$(PY) bench/importing.py
	$(PY) bench/api.py

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) data/*.sqlite3* data/staticfiles
