# Set-up and the entry points. Each target creates .venv if missing and installs into it.
PYTHON ?= python3
VENV   := .venv
# exact SymPy/mpmath for the byte-for-byte gallery test (users may install newer ones)
CONSTRAINTS := .ci/constraints.txt
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all bench gallery example clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neurodyn list
	$(BIN)/neurodyn derive erf
	$(BIN)/neurodyn derive tanh
	$(BIN)/neurodyn fixed-point tanh --sigma-w2 2.25 --sigma-b2 0.05 --dps 50

# the everyday suite: tests marked slow (finite networks, long scans, nested quadratures) deselected
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# everything, slow tests included, on two processes (pytest-xdist): what CI runs (.ci/run)
test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2

gallery: $(STAMP)
	$(BIN)/neurodyn gallery

example: $(STAMP)
	$(BIN)/python examples/classic_figures.py figures

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fixed_point.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_deep.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache figures
