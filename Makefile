# Two commands do all the set-up (see README):  make run   and   make test
# TORCH_SPEC is installed BEFORE the project so that pip never pulls a multi-GB CUDA
# build on a CPU machine; with a GPU, `make TORCH_SPEC=torch run` takes your own build.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.toylab-installed

.PHONY: setup run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

## The main job: train the default ring8 GAN, save its run and a summary figure.
run: setup
	$(PY) -m toylab train --out runs/ring8

## The whole test suite (browser tests included).
test: setup
	$(PY) -m pytest -n 2 --headless

bench: setup
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf $(VENV) runs .pytest_cache
