# spiffe-helper for Python. `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench proto system-deps clean

# The virtualenv is rebuilt when pyproject.toml changes; the stamp names the extras installed.
$(BIN)/.installed-demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(BIN)/.installed-demo

demo: $(BIN)/.installed-demo
	$(BIN)/spiffe-helper demo

# System tools some tests drive for real (openssl, nginx, ...); installed when absent.
system-deps:
	@sh scripts/system-deps.sh

test: $(BIN)/.installed-test system-deps
	$(BIN)/ruff check spiffe_helper tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(BIN)/.installed-test
	$(BIN)/ruff check spiffe_helper tests bench examples
	$(BIN)/ruff format --check spiffe_helper tests bench examples
	$(BIN)/mypy

bench: $(BIN)/.installed-test
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Regenerate the Workload API stubs; the runtime floor in pyproject.toml follows the tools version.
proto: $(BIN)/.installed-test
	$(BIN)/python -m pip install --quiet 'grpcio-tools==1.78.0'
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
		spiffe_helper/workload/_proto/workload.proto

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
