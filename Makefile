# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# --serve: the demo ends by printing each role's door (office, parent app, canteen screen) and keeps
# them open until Ctrl-C; `.venv/bin/mektep demo` alone plays the morning and exits 0 or 1.
demo: $(STAMP)
	$(BIN)/mektep demo --serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/mektep bench gateway

clean:
	rm -rf $(VENV) var .pytest_cache
