# Each command sets up what it needs:
#   make reproduce   execute every notebook in order (papermill), rewriting figures/ and the
#                    README's measured numbers (tools/render_readme.py), then compare the new
#                    tables with the committed ones within tolerance (tools/check_reproduction.py);
#                    with DATASET=<flag> [SIZE=<px>] the notebooks that take a dataset, on that
#                    one, into runs/<flag>_<px>px/ (nothing committed is touched)
#   make test        lint (ruff, import layers), unit tests, notebooks 00-02 under nbval as
#                    stored, and 03-10 run end to end with small parameters (make smoke)
#   make lab         JupyterLab on the notebooks
#   make bench       the training and deployment benchmarks (helpers.bench), printed
#   make book        the rendered book of the stored notebooks (Jupyter Book 1, never executes
#                    them) in book/_build/html; make book-test opens it in headless Chromium
#   make browser     Debian's chromium for that test (apt-get, as root on Debian)
#   make badges      the Binder/Colab badges and Colab set-up cells, from pyproject's Repository URL
# The environment is a git-ignored virtualenv in .venv with the exact versions of
# requirements/lock-linux-py311.txt; it is rebuilt when the lock or pyproject changes.
# The book's tools live in a second one, .venv-book (requirements/lock-book-linux-py311.txt):
# Jupyter Book 1 needs markdown-it-py 3, the main lock has 4.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/lock-linux-py311.txt
STAMP  := $(VENV)/.installed
BOOK_VENV  := .venv-book
BOOK_LOCK  := requirements/lock-book-linux-py311.txt
BOOK_STAMP := $(BOOK_VENV)/.installed
BOOK_HTML  := book/_build/html
CHROMIUM   := /usr/bin/chromium
# Fixed thread count: bit-identical TensorFlow results need the same count every run.
export OMP_NUM_THREADS ?= 2
export TF_NUM_INTRAOP_THREADS ?= 2
export TF_NUM_INTEROP_THREADS ?= 2
# 3: TensorFlow's C++ log lines (oneDNN notes, tf.data attribute errors it recovers from)
# would land in the notebooks' stored outputs; real errors still raise in Python.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0

.PHONY: reproduce test lint unit notebooks smoke lab bench env lock clean book book-test browser badges

# Notebooks cheap enough to re-run as stored under nbval; 03-09 train models for minutes and
# are run with small parameters instead (tests/test_notebooks.py, `make smoke`).
NBVAL_NOTEBOOKS := notebooks/00_index.ipynb notebooks/01_data.ipynb notebooks/02_cnn_math.ipynb
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=900

env: $(STAMP) $(BOOK_STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (medimg)" \
	    --env TF_CPP_MIN_LOG_LEVEL 3 >/dev/null
	@touch $@

$(BOOK_STAMP): $(BOOK_LOCK)
	@test -x $(BOOK_VENV)/bin/python || $(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(BOOK_LOCK)
	@touch $@

# DATASET=<flag> [SIZE=<px>]: the notebooks that take a dataset, on that one, into
# runs/<flag>_<px>px/ (committed notebooks, figures and README untouched).
SIZE ?= 28
reproduce: $(STAMP)
ifdef DATASET
	$(PY) tools/run_notebooks.py --dataset $(DATASET) --size $(SIZE)
else
	$(PY) tools/run_notebooks.py
	$(PY) tools/render_readme.py
	$(PY) tools/check_reproduction.py
endif

# The code's shape: ruff (lint and format, helpers, tests, tools and the notebooks' code cells)
# and the layer contract of helpers (import-linter, pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected nothing: that means the suite is missing, so fail loudly.
# The book is built and the browser installed first: tests/test_book.py opens every page.
# The tests run in TEST_WORKERS processes (pytest-xdist): much of a notebook run is one
# Python thread (kernel start-up, imports, plotting), which a second process overlaps. nbval
# runs each stored notebook's cells in one kernel, in order: in one process, after them.
TEST_WORKERS ?= 2
test: lint book browser
	$(PY) -m pytest -p no:cacheprovider tests -n $(TEST_WORKERS) --dist worksteal -q -rs \
	    --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	[ $$rc -eq 0 ] || exit $$rc; \
	$(PY) -m pytest -p no:cacheprovider $(NBVAL_NOTEBOOKS) $(NBVAL) -q -rs; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no notebooks" >&2; fi; exit $$rc

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests -m "not notebook and not book" -q

smoke: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests/test_notebooks.py -q -rs

notebooks: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider $(NBVAL_NOTEBOOKS) $(NBVAL) -q

# The book of the committed notebooks with their stored outputs (book/_config.yml turns
# execution off), from scratch so that every page's warnings are seen; any Sphinx warning
# (a missing image, a reference that resolves nowhere) fails the build, after all of them
# have been listed (-W --keep-going). Open book/_build/html/index.html.
badges: $(STAMP)
	$(PY) tools/badges.py

book: $(BOOK_STAMP)
	rm -rf book/_build
	$(BOOK_VENV)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
	    --path-output book --all -W --keep-going

# Every page of the built book in headless Chromium (tests/test_book.py); screenshots land in
# book/_build/screenshots.
book-test: $(STAMP) book browser
	$(PY) -m pytest -p no:cacheprovider tests/test_book.py -m book -q -rs

# Debian's chromium for the browser test (playwright drives it; no browser is downloaded).
# As root on Debian it is installed with apt-get when missing; otherwise this says what to do
# and the browser test is skipped, saying so.
browser:
	@if [ -x $(CHROMIUM) ]; then \
	    echo "browser: $(CHROMIUM) is there"; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y --no-install-recommends chromium; \
	else \
	    echo "browser: $(CHROMIUM) is missing and this is not root on Debian: install" \
	        "Debian's chromium package (sudo apt-get install --no-install-recommends chromium)" \
	        "or set BOOK_CHROMIUM to a Chromium binary; tests/test_book.py is skipped" \
	        "until then" >&2; \
	fi

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/00_index.ipynb

# Timings, not tests: the numbers quoted in the README's training and deployment paragraphs.
bench: $(STAMP)
	$(PY) -m helpers.bench training
	$(PY) -m helpers.bench deployment

# Refresh the locks after changing dependencies (needs network): writes $(LOCK) from .venv
# and $(BOOK_LOCK) from .venv-book (pip install into them first).
lock: $(STAMP) $(BOOK_STAMP)
	{ head -n 2 $(LOCK); $(PY) -m pip freeze --exclude-editable | grep -v '^medimg-helpers'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	{ head -n 2 $(BOOK_LOCK); $(BOOK_VENV)/bin/python -m pip freeze; } > $(BOOK_LOCK).new
	mv $(BOOK_LOCK).new $(BOOK_LOCK)

clean:
	rm -rf $(VENV) $(BOOK_VENV) .cache .pytest_cache book/_build
