# lrp-teach: `make lab` opens the course, `make test` checks everything.
# Both create .venv on first use and install the course into it; the second time they skip the
# install unless pyproject.toml changed.
#
# Every target is a call of course.py, the same entry point students without make use
# (`py -3.11 course.py lab` on Windows), so the two cannot drift (tests/test_course_entry.py).
# course.py creates $(VENV) with $(PYTHON) and skips the install unless pyproject.toml is newer
# than its stamp.

PYTHON ?= python3
VENV   ?= .venv
COURSE := $(PYTHON) course.py --venv $(VENV)

.PHONY: install lab lab-instructor test unit nbval portability student notebooks bench clean \
        browser-test schedule explain site site-instructor site-check

install:
	$(COURSE) install

# Students' JupyterLab: nbgrader's Formgrader / Assignment List switched off.
lab:
	$(COURSE) lab $(LAB_ARGS)

# The instructor's JupyterLab over the whole repository, with nbgrader's Formgrader.
lab-instructor:
	$(COURSE) lab-instructor $(LAB_ARGS)

# The whole suite: unit tests and nbval over every notebook (configured in pyproject.toml).
test:
	$(COURSE) test $(PYTEST_ARGS)

# The fast inner loop: unit tests without those marked slow (`make test` runs them all).
unit:
	$(COURSE) unit $(PYTEST_ARGS)

nbval:
	$(COURSE) nbval $(PYTEST_ARGS)

# Re-run the notebooks under other numerics and require the committed outputs in each: catches
# digits that only hold on this CPU (INSTRUCTORS.md). CI: two mixed configurations;
# a release: `make portability CONFIGS=all`. One notebook: `make portability NB=notebooks/...`.
portability:
	$(COURSE) portability $(if $(CONFIGS),--configs $(CONFIGS)) $(NB)

# Student versions (solutions removed, outputs cleared) in student/ -- see INSTRUCTORS.md.
student:
	$(COURSE) student

# Re-execute notebooks in place and normalise them (after editing a notebook).
# `make notebooks NB=notebooks/03_z_plus_rule.ipynb` runs just one.
notebooks:
	$(COURSE) notebooks $(NB)

# The four-week schedule; SCHEDULE_ARGS="--nbgrader-course DIR" writes one nbgrader
# assignment per week.
schedule:
	$(COURSE) schedule $(SCHEDULE_ARGS)

# The command-line heatmap: make explain EXPLAIN_ARGS="data/images/chelsea.png -o heatmap.png"
explain:
	$(COURSE) explain $(EXPLAIN_ARGS)

# The explorers in a real browser: JupyterLab + a Chromium-family browser found on the PATH
# (or BROWSER_ARGS="--browser PATH"), driven by Playwright (browser_tests/, README "Browser test").
browser-test:
	$(COURSE) browser-test $(BROWSER_ARGS) $(PYTEST_ARGS)

bench:
	$(COURSE) bench

clean:
	rm -rf student .pytest_cache build *.egg-info _site _site-instructor _site-check

# --- The course as a website (see README "The course as a website") ---------------------------
# site: the PUBLIC site (student versions: no solutions) in _site/, what GitHub Pages publishes.
# site-instructor: the edition with solutions in _site-instructor/ -- never publish it.
# site-check: opens every page of _site/ in a headless Chromium-family browser.
site:
	$(COURSE) site $(SITE_ARGS)

site-instructor:
	$(COURSE) site --instructor $(SITE_ARGS)

site-check:
	$(COURSE) site-check $(SITE_ARGS)
