# citypay — `make run` and `make test` are the whole set-up (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "citypay needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)

# Re-installs only when the dependency files change.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	CITYPAY_DEMO=1 $(PY) main.py up

# One pytest process per core (pytest-xdist): each test has its own database, so they run side by side.
# pytest-timeout fails a hung test; `timeout` is the backstop for a hang that even that cannot break.
test: install
	@timeout --kill-after=30 1500 $(PY) -m pytest -q -n auto || { rc=$$?; \
	  { [ $$rc -eq 124 ] || [ $$rc -eq 137 ]; } && echo "make test: stopped after 25 minutes; the run hung (see the last test above)"; \
	  exit $$rc; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
