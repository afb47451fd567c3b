# Two commands for a newcomer:
#   make lab    set up (once) and open the course in JupyterLab
#   make test   set up (once) and run the whole test suite (lint, unit tests, every notebook)
#   make student  write the learners' notebooks (build/student/) and the instructors' (build/instructor/)
#   make translations  the Chinese edition: merge English changes into i18n/zh_CN/*.po, write notebooks/zh_CN/
# The set-up step is shared and idempotent: it re-installs only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
KERNEL := cnn-course
PORT   ?= 8888

.PHONY: setup lab test lint clean chrome slides notebooks student translations test-zh

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "CNN course (.venv)"
	touch $(STAMP)

# Jupyter refuses to run as root unless told to (containers, CI); a learner is never root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	COURSE_FAST=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# One source, two builds: the committed notebooks hold the reference solutions (cells tagged
# "solution"); build/student/ gets stubs in their place and no outputs, build/instructor/ everything.
# Both editions: the Chinese notebooks go to build/student/zh_CN/ and build/instructor/zh_CN/.
student: setup
	$(BIN)/python -m tools.build_notebooks --out build

# The notes' training loop against the course's, side by side, on this machine (minutes on a
# laptop CPU); results in benchmarks/RESULTS.md. More options: make bench BENCH_ARGS=--help
.PHONY: bench
bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Launch badges, the Colab install cell and slide metadata on every notebook, and the run-time lines
# from notebooks/times.json (idempotent: run it after editing or adding a notebook, or after
# re-measuring; a test fails when it was forgotten). See tools/.
# The Chinese notebooks' badges come from the same generator, through their build.
chrome: setup
	$(BIN)/python -m tools.notebook_chrome
	$(BIN)/python -m tools.run_times
	$(BIN)/python -m tools.i18n build

# The Chinese edition (notebooks/zh_CN/, from i18n/zh_CN/*.po and i18n/glossary.tsv): merge what
# changed in the English notebooks into the catalogs (changed cells turn fuzzy), write the Chinese
# notebooks, and list what needs translating. Edit the .po files, then run it again. A notebook
# joins the edition with `.venv/bin/python -m tools.i18n update NN`. See CONTRIBUTING.md.
translations: setup
	$(BIN)/python -m tools.i18n update $(I18N_ARGS)
	$(BIN)/python -m tools.i18n build
	$(BIN)/python -m tools.i18n status

# The Chinese notebooks under nbval, every cell (make test runs only what differs from English:
# tests/test_i18n.py). Their check cells carry nbval-ignore-output: they answer in Chinese there.
test-zh: setup
	COURSE_FAST=1 $(BIN)/python -m pytest notebooks/zh_CN $(PYTEST_ARGS)

# A reveal.js slide deck per notebook, from the committed outputs (nothing is executed), in
# build/slides/ (git-ignored). Building needs no network; the deck loads reveal.js from a CDN
# when opened, unless REVEAL_PREFIX names a local copy of reveal.js.
SLIDES_DIR ?= build/slides
REVEAL_PREFIX ?=
slides: setup
	$(BIN)/jupyter nbconvert --to slides --output-dir $(SLIDES_DIR) $(if $(REVEAL_PREFIX),--SlidesExporter.reveal_url_prefix=$(REVEAL_PREFIX)) notebooks/[0-9][0-9]-*.ipynb

# Execute notebooks as they are committed: one full run each, in place (minutes; 06-08 want
# COURSE_FLOWERS_DIR=<a Flowers-102 folder> for real photographs). NOTEBOOKS=notebooks/05-*.ipynb for one.
notebooks: setup
	$(BIN)/python -m tools.execute_notebooks $(NOTEBOOKS)

clean:
	rm -rf $(VENV)
