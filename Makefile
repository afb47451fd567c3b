# Two commands for a newcomer:
#   make lab    set up (once) and open the course in JupyterLab
#   make test   set up (once) and run the whole test suite (lint, unit tests, every notebook)
#   make student  write the learners' notebooks (build/student/) and the instructors' (build/instructor/)
# The set-up step is shared and idempotent: it re-installs only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
KERNEL := cnn-course
PORT   ?= 8888

.PHONY: setup lab test lint clean chrome slides notebooks student

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
student: setup
	$(BIN)/python -m tools.build_notebooks --out build

# The notes' training loop against the course's, side by side, on this machine (minutes on a
# laptop CPU); results in benchmarks/RESULTS.md. More options: make bench BENCH_ARGS=--help
.PHONY: bench
bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Launch badges, the Colab install cell and slide metadata on every notebook (idempotent: run it
# after editing or adding a notebook; a test fails when it was forgotten). See tools/.
chrome: setup
	$(BIN)/python -m tools.notebook_chrome

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
