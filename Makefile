# Entry points of the project. Everything runs inside a local virtual
# environment, .venv, built from pyproject.toml (the one list of dependencies).
#
#   make test      unit tests, then the notebooks at smoke scale (nbval)
#   make figures   run the notebooks and write figures/ (SCALE=smoke|cpu|paper,
#                  JOBS=notebooks at once, THREADS=torch threads of each)
#   make lab       JupyterLab with jupytext pairing (notebooks/*.py <-> .ipynb)
#   make bench     timing benchmarks (benchmarks/bench.py; BENCH_ARGS=...)
#   make clean     remove build outputs and caches (never figures/ or results/)
#
# Data: the loaders read DISTILL_DATA_ROOT, which make passes through from the
# environment unchanged. .ci/run sets it to ../shared/data (the offline copies
# of MNIST and CIFAR-10 beside the repository) when it is not already set.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# empty: paper scale with a GPU, cpu scale without one
SCALE ?=
# extra arguments for tools/build_figures.py, e.g. ARGS="--force --only 01_x"
ARGS ?=
# torch threads for make figures. The committed cpu-scale results were made
# with one: float sums, and so every training trajectory, depend on the
# thread count, and one thread also gives the same files on any core count.
THREADS ?= 1
# notebooks run at once by make figures (each on THREADS threads): one per core
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# extra arguments for benchmarks/bench.py, e.g. BENCH_ARGS="--only accuracy"
BENCH_ARGS ?=
# extra arguments for jupyter lab, e.g. LAB_ARGS="--no-browser --port 8890"
LAB_ARGS ?=

# settings for tests: no progress bars, no windows, one torch thread (spinning
# threads that wait on each other make a loaded machine many times slower),
# notebooks at smoke scale
TEST_ENV := TQDM_DISABLE=1 MPLBACKEND=Agg OMP_NUM_THREADS=1
# (and write their figures, runs and results under build/, never into the
# committed figures/ and results/)
NB_BUILD := $(CURDIR)/build/smoke
NB_ENV := $(TEST_ENV) DISTILL_SCALE=smoke DISTILL_FIGURES_DIR=$(NB_BUILD)/figures \
	DISTILL_RUNS_DIR=$(NB_BUILD)/runs DISTILL_RESULTS_DIR=$(NB_BUILD)/results

.PHONY: venv test test-unit test-notebooks figures lab bench clean

venv: $(STAMP)

# Create the environment when it is missing and (re)install the package when
# pyproject.toml is newer than the stamp. The pip configuration of the build
# machines resolves torch from local wheels; the pins in pyproject.toml match.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $@

test: test-unit test-notebooks

test-unit: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -q tests

# The paired .ipynb files are executed by nbval with the venv's interpreter;
# their parameters cell reads DISTILL_SCALE, so they run at smoke scale here.
test-notebooks: $(STAMP)
	@shopt -s nullglob; nbs=(notebooks/*.ipynb); \
	if (( $${#nbs[@]} == 0 )); then \
		echo "no notebooks/*.ipynb: notebook tests skipped"; \
	else \
		echo "$(NB_ENV) $(PY) -m pytest -q --nbval-lax --nbval-current-env $${nbs[*]}"; \
		$(NB_ENV) $(PY) -m pytest -q --nbval-lax --nbval-current-env "$${nbs[@]}"; \
	fi

figures: $(STAMP)
	OMP_NUM_THREADS=$(THREADS) $(PY) tools/build_figures.py --jobs $(JOBS) \
		$(if $(SCALE),--scale $(SCALE)) $(ARGS)

# jupytext (>= 1.16) adds its contents manager to Jupyter by itself; the
# pairing is configured in jupytext.toml at the repository root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.bench $(BENCH_ARGS)

clean:
	rm -rf build/ .pytest_cache/ *.egg-info/ .ipynb_checkpoints/
	find . -path ./.venv -prune -o -type d \
		\( -name __pycache__ -o -name .ipynb_checkpoints -o -name .pytest_cache \) \
		-print0 | xargs -0 rm -rf
