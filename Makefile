# Two entry points, both from a fresh clone: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# The default study searches on Fashion-MNIST (Debian: apt-get install dataset-fashion-mnist); without it the demo
# searches scikit-learn's bundled digits instead, and says so.
FASHION_MNIST := /usr/share/datasets/fashion-mnist

demo: setup
	@if [ -d $(FASHION_MNIST) ]; then \
	  echo "$(BIN)/nascomp search --budget 4GFLOPs"; $(BIN)/nascomp search --budget 4GFLOPs; \
	else \
	  echo "Fashion-MNIST is not installed in $(FASHION_MNIST) (apt-get install dataset-fashion-mnist): searching scikit-learn's digits instead"; \
	  echo "$(BIN)/nascomp search --budget 4GFLOPs --data digits"; $(BIN)/nascomp search --budget 4GFLOPs --data digits; \
	fi

# Where PostgreSQL is installed and NASCOMP_TEST_POSTGRES_URL is not set, the distributed test gets the project's
# throwaway server on 127.0.0.1:55432 (.ci/start_postgres.sh, as CI does); without PostgreSQL it skips, and says so.
test: setup
	@if [ -z "$$NASCOMP_TEST_POSTGRES_URL" ]; then \
	  if pg_env=$$(.ci/start_postgres.sh --no-install); then eval "$$pg_env"; \
	    echo "PostgreSQL for the distributed test: $$NASCOMP_TEST_POSTGRES_URL (.ci/start_postgres.sh)"; \
	  else echo "no PostgreSQL server: the distributed test will skip (see docs/distributed.md)"; fi; \
	fi; \
	echo "$(BIN)/pytest -n 2 -q -rs --durations=15"; $(BIN)/pytest -n 2 -q -rs --durations=15

test-fast: setup
	$(BIN)/pytest -n 2 -q -m "not slow and not postgres"

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
