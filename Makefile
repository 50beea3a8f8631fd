# The README's commands. Each target creates .venv and installs the project if needed,
# so `make demo` and `make test` work on a fresh machine with only Python.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test unit notebooks lint typecheck bench bench-scale lab clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/toolkit demo

test: lint typecheck unit notebooks

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy toolkit

unit: $(STAMP)
	$(BIN)/pytest tests

notebooks: $(STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		$(BIN)/pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg -p no:randomly; \
	else echo "no notebooks yet"; fi

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Time per row at 1M, 3M and 10M rows, and read_dask against dask's read_sql_query
# (long: about half an hour, and a few GiB of disk).
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.scale_out

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache toolkit.db toolkit.db-wal toolkit.db-shm
