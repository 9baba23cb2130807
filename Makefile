# Two commands do all the set-up (see README):  make run   and   make test
# TORCH_SPEC is installed BEFORE the project so that pip never pulls a multi-GB CUDA
# build on a CPU machine; with a GPU, `make TORCH_SPEC=torch run` takes your own build.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.toylab-installed

.PHONY: setup run test test-fast bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

## The main job: the dashboard on the default ring8 target at http://127.0.0.1:8050
## (HOST=0.0.0.0 or PORT=8060 to change; Ctrl-C stops it).
HOST ?= 127.0.0.1
PORT ?= 8050
run: setup
	$(PY) -m dashboards --host $(HOST) --port $(PORT)

## The whole test suite (browser tests included): finds or installs Chromium first (.ci/browser).
test: setup
	bash .ci/browser
	$(PY) -m pytest -n 2 --headless

## The quick loop while working: no browser tests, no slow training tests.
test-fast: setup
	$(PY) -m pytest -n 2 -m "not browser and not slow"

bench: setup
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_animate.py
	$(PY) benchmarks/bench_dashboard.py

## Remake the pictures in docs/ (figures, gallery, dashboard screenshots).
docs: setup
	$(PY) docs/make_figures.py
	$(PY) docs/make_gallery.py
	$(PY) docs/make_screenshots.py

clean:
	rm -rf $(VENV) runs .pytest_cache
