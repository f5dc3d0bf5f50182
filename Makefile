# Each command sets up what it needs:
#   make reproduce   execute every notebook in order (papermill), rewriting figures/ and the
#                    README's measured numbers (tools/render_readme.py), then compare the new
#                    tables with the committed ones within tolerance (tools/check_reproduction.py)
#   make test        lint (ruff, import layers), unit tests, notebooks 00-02 under nbval as
#                    stored, and 03-09 run end to end with small parameters (make smoke)
#   make lab         JupyterLab on the notebooks
#   make bench       the training and deployment benchmarks (helpers.bench), printed
# The environment is a git-ignored virtualenv in .venv with the exact versions of
# requirements/lock-linux-py311.txt; it is rebuilt when the lock or pyproject changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/lock-linux-py311.txt
STAMP  := $(VENV)/.installed
# Fixed thread count: bit-identical TensorFlow results need the same count every run.
export OMP_NUM_THREADS ?= 2
export TF_NUM_INTRAOP_THREADS ?= 2
export TF_NUM_INTEROP_THREADS ?= 2
# 3: TensorFlow's C++ log lines (oneDNN notes, tf.data attribute errors it recovers from)
# would land in the notebooks' stored outputs; real errors still raise in Python.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0

.PHONY: reproduce test lint unit notebooks smoke lab bench env lock clean

# Notebooks cheap enough to re-run as stored under nbval; 03-09 train models for minutes and
# are run with small parameters instead (tests/test_notebooks.py, `make smoke`).
NBVAL_NOTEBOOKS := notebooks/00_index.ipynb notebooks/01_data.ipynb notebooks/02_cnn_math.ipynb
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=900

env: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (medimg)" \
	    --env TF_CPP_MIN_LOG_LEVEL 3 >/dev/null
	@touch $@

reproduce: $(STAMP)
	$(PY) tools/run_notebooks.py
	$(PY) tools/render_readme.py
	$(PY) tools/check_reproduction.py

# The code's shape: ruff (lint and format, helpers, tests, tools and the notebooks' code cells)
# and the layer contract of helpers (import-linter, pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected nothing: that means the suite is missing, so fail loudly.
test: lint
	$(PY) -m pytest -p no:cacheprovider tests $(NBVAL_NOTEBOOKS) $(NBVAL) -q -rs; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests -m "not notebook" -q

smoke: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests/test_notebooks.py -q -rs

notebooks: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider $(NBVAL_NOTEBOOKS) $(NBVAL) -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/00_index.ipynb

# Timings, not tests: the numbers quoted in the README's training and deployment paragraphs.
bench: $(STAMP)
	$(PY) -m helpers.bench training
	$(PY) -m helpers.bench deployment

# Refresh the lock after changing dependencies (needs network): writes $(LOCK).
lock: $(STAMP)
	{ head -n 2 $(LOCK); $(PY) -m pip freeze --exclude-editable | grep -v '^medimg-helpers'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf $(VENV) .cache .pytest_cache
