# Two commands do everything on a fresh machine:
#   make demo   – set up .venv if needed, then run the napari demo (gold nanocrystal, WBP vs IRDM)
#   make test   – set up .venv if needed, then run the whole test suite (viewer tests under Xvfb)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU wheel of torch (a plain 'torch' would pull a multi-GB CUDA build)
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/python -m pip install -q -e ".[pyqt,test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/napari-irdm demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install -q astra-toolbox
	$(BIN)/python benchmarks/wbp_vs_peers.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
