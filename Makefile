# lrp-teach: `make lab` opens the course, `make test` checks everything.
# Both create .venv on first use and install the course into it; the second time they skip the
# install unless pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lrp-teach-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: install lab test unit nbval portability student notebooks bench clean browser-test

# install, lab and test go through course.py, the same entry point students without make use
# (`py -3.11 course.py lab` on Windows), so the two cannot drift. It creates $(VENV) with
# $(PYTHON) and skips the install unless pyproject.toml is newer than $(STAMP).
COURSE := $(PYTHON) course.py --venv $(VENV)

install:
	$(COURSE) install

lab:
	$(COURSE) lab $(LAB_ARGS)

# The whole suite: unit tests and nbval over every notebook (configured in pyproject.toml).
test:
	$(COURSE) test $(PYTEST_ARGS)

# The fast inner loop: unit tests without those marked slow (`make test` runs them all).
unit: install
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

nbval: install
	$(PY) -m pytest notebooks $(PYTEST_ARGS)

# Re-run every notebook under other numerics (1 and 4 threads, oneDNN on/off, the GEMM kernels of
# older CPUs) and require the committed outputs in each: catches digits that only hold on this
# CPU (INSTRUCTORS.md). ~15 min on 2 cores. `make portability NB=... CONFIGS=1-thread,xla`.
portability: install
	$(PY) tools/portability_check.py $(if $(CONFIGS),--configs $(CONFIGS)) $(NB)

# Student versions (solutions removed, outputs cleared) in student/ -- see INSTRUCTORS.md.
student: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) tools/make_student.py --out student

# Re-execute notebooks in place and strip widget state (after editing a notebook).
# `make notebooks NB=notebooks/03_z_plus_rule.ipynb` runs just one.
notebooks: install
	$(PY) tools/run_notebooks.py $(or $(NB),$(NOTEBOOKS))

# The explorers in a real browser: JupyterLab + the system's Chromium, driven by Playwright
# (browser_tests/, README "Browser test"). Needs Chromium; says how to get it if it is missing.
BROWSER_STAMP := $(VENV)/.lrp-teach-browser-installed

# (after `install`, which browser-test runs first)
$(BROWSER_STAMP): pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,browser]'
	touch $(BROWSER_STAMP)

browser-test: install
	@$(PY) -c "import sys; sys.path.insert(0, 'browser_tests'); import conftest as c; \
	  sys.exit(0) if c.find_chromium() else sys.exit('make browser-test: no Chromium found.\n' + c.HOW_TO_GET_CHROMIUM)"
	@$(MAKE) --no-print-directory $(BROWSER_STAMP)
	$(PY) -m pytest browser_tests -o addopts="" -p no:cacheprovider $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/bench_lrp.py

clean:
	rm -rf student .pytest_cache build *.egg-info _site _site-check

# --- The course as a website (see README "The course as a website") ---------------------------
# site: static site of the committed notebooks in _site/ (nothing re-executed); installs the
# [site] extra first. site-check: opens every page in headless chromium (/usr/bin/chromium).
.PHONY: site site-check

site:
	$(COURSE) site $(SITE_ARGS)

site-check:
	$(COURSE) site-check $(SITE_ARGS)
