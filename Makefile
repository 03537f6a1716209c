# lrp-teach: `make lab` opens the course, `make test` checks everything.
# Both create .venv on first use and install the course into it; the second time they skip the
# install unless pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lrp-teach-installed
# Jupyter refuses to start as root without --allow-root (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: install lab test unit nbval student notebooks bench clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT) $(LAB_ARGS)

# The whole suite: unit tests and nbval over every notebook (configured in pyproject.toml).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast inner loop: unit tests without those marked slow (`make test` runs them all).
unit: install
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

nbval: install
	$(PY) -m pytest notebooks $(PYTEST_ARGS)

# Student versions (solutions removed, outputs cleared) in student/ -- see INSTRUCTORS.md.
student: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) tools/make_student.py --out student

# Re-execute notebooks in place and strip widget state (after editing a notebook).
# `make notebooks NB=notebooks/03_z_plus_rule.ipynb` runs just one.
notebooks: install
	$(PY) tools/run_notebooks.py $(or $(NB),$(NOTEBOOKS))

bench: install
	$(PY) benchmarks/bench_lrp.py

clean:
	rm -rf student .pytest_cache build *.egg-info
