# backprop-course: every target builds its own .venv from requirements.txt when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader shells out to alembic and jupyter: the venv's bin/ must come first on PATH.
export PATH := $(BIN):$(PATH)
# JupyterLab refuses to run as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_FLAGS ?=

.PHONY: venv lab test lint release handout demo clean flaky hub-proxy

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml student/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e student
	@# jupyter-events asks for jsonschema[format-nongpl], whose rfc3987-syntax builds a parser
	@# when jsonschema is imported: 2-3 CPU-s in every nbgrader, jupyter and grader process.
	@# jsonschema works without it (no "iri" format checks; nothing here uses them).
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	@touch $(STAMP)

# The learner's JupyterLab: lab/ is a Jupyter config directory (nbgrader's instructor plugins and
# server extensions off, no news question), first on the config path for this server only.
# `jupyter lab` started any other way (an instructor in a course folder) is untouched.
LEARNER_CONFIG := $(CURDIR)/lab

lab: workspace  ## open your workspace in JupyterLab (students and self-study)
	JUPYTER_CONFIG_PATH="$(LEARNER_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=$(WORKSPACE) $(LAB_FLAGS) $(WORKSPACE)/00_start_here.ipynb

# The learner's own folder: `make lab` copies the notebooks there (never overwriting one).
WORKSPACE ?= $(CURDIR)/workspace
.PHONY: workspace selfcheck

workspace: $(STAMP)  ## copy the course's notebooks into workspace/ (never overwrites)
	$(BIN)/python -m grader workspace --dir $(WORKSPACE)

selfcheck: $(STAMP)  ## grade your own notebook: make selfcheck NB=04 (or NB=path/to.ipynb)
	@test -n "$(NB)" || { echo "make selfcheck: say which notebook, e.g. make selfcheck NB=04"; exit 2; }
	$(BIN)/python -m grader selfcheck --dir $(WORKSPACE) $(NB)

test: lint  ## lint and the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff's checks, and the code formatted as ruff format leaves it
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || { echo "make lint: run .venv/bin/ruff format . to format the files above"; exit 1; }

# Flaky tests? The suite N times from fresh clones of HEAD under a CPU load (benchmarks/flaky.py):
#   make flaky N=3 FLAKY_ARGS="--no-bwrap -- tests/test_lab.py"
N ?= 3
flaky: $(STAMP)  ## the test suite N times from fresh clones under load; names every test that failed
	$(BIN)/python benchmarks/flaky.py --runs $(N) $(FLAKY_ARGS)

release: $(STAMP)  ## regenerate release/ from source/ with nbgrader
	$(BIN)/python -m grader release

handout: $(STAMP)  ## instructors: dist/handout/ (student wheel, one zip per assignment)
	$(BIN)/python -m grader handout

demo: $(STAMP)  ## instructors: the whole grading pipeline on a sample class
	$(BIN)/python -m grader demo

# The JupyterHub proxy (npm's configurable-http-proxy) for jupyterhub_config.py and
# tests/test_hub.py, into a cache folder when it is not on PATH (needs node and npm).
HUB_PROXY_VERSION := 5.3.0
HUB_PROXY_PREFIX  := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/backprop-course/hub-proxy

hub-proxy:  ## the JupyterHub proxy (npm's configurable-http-proxy), when missing
	@command -v configurable-http-proxy >/dev/null \
	  || test -x $(HUB_PROXY_PREFIX)/node_modules/.bin/configurable-http-proxy \
	  || npm install --no-audit --no-fund --prefix $(HUB_PROXY_PREFIX) \
	       configurable-http-proxy@$(HUB_PROXY_VERSION)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
