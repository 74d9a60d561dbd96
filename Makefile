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

test: setup
	$(BIN)/pytest -n 2 -q -rs --durations=15

test-fast: setup
	$(BIN)/pytest -n 2 -q -m "not slow and not postgres"

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
