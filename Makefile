# Two commands do everything on a fresh machine:
#   make demo   – set up .venv if needed, then run the napari demo (gold nanocrystal, WBP vs IRDM)
#   make test   – set up .venv if needed, then lint (ruff), type-check (mypy) and run the whole test suite
#                 (viewer tests under Xvfb)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch: the CUDA build where an NVIDIA GPU is, else the CPU build (not the multi-GB CUDA one)
	bash tools/install_torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[all,test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/napari-irdm demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q astra-toolbox
	$(BIN)/python benchmarks/wbp_vs_peers.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
