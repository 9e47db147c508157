# Two commands set everything up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install demo test lint bench clean browser

# Installs go through uv (PyPI's `uv`, put in the venv by its pip): the test extras in ~10 s where pip
# takes ~40 s; where uv cannot install (an index only pip is configured for), pip does it. Installed
# modules are byte-compiled on every core (BYTECODE); compiled they must be, since with
# PYTHONDONTWRITEBYTECODE set, as on our machines, every process would compile its imports again.
# `make test` compiles nothing at install: it unsets PYTHONDONTWRITEBYTECODE, and its run writes the
# bytecode of what it imports as it imports it (~5,000 of the venv's ~16,000 files; all of them took
# 30 s of the install on 2 cores). sweeper's own modules are compiled by compileall (uv compiles
# site-packages); its status is not checked: a few packages ship files that do not compile.
BYTECODE := --compile-bytecode
UV := $(VENV)/bin/uv
define INSTALL
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q uv || true
	$(UV) pip install -q --python $(PY) $(BYTECODE) -e '$(1)' || { $(PY) -m pip install -q --no-compile -e '$(1)' \
	  && { test -z '$(BYTECODE)' || $(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1; true; }; }
	@test -z '$(BYTECODE)' || $(PY) -m compileall -q -j 0 sweeper hydra_plugins >/dev/null 2>&1 || true
endef

# everything: sweeper with Ray, PostgreSQL, the examples, the benchmarks' peers and the test tools
install: $(STAMP)

$(STAMP): pyproject.toml
	$(call INSTALL,.[test])
	@touch $(STAMP) $(DEMO_STAMP)

# the demo needs only sweeper and scikit-learn (no Ray, no test tools)
$(DEMO_STAMP): pyproject.toml
	$(call INSTALL,.[examples])
	@touch $(DEMO_STAMP)

# the demo starts afresh each time: its own study and MLflow store live in examples/quickstart
demo: $(DEMO_STAMP)
	cd examples/quickstart && rm -rf .sweeps mlflow.db mlruns && ../../$(VENV)/bin/sweep launch sweep.yaml

lint: install
	$(VENV)/bin/ruff check sweeper tests benchmarks examples hydra_plugins

# the report's browser test drives Debian's Chromium through Playwright (Playwright's own browser
# download is not reachable from our machines); installs it once, ~1 min, needs root
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# the suite in TEST_WORKERS pytest-xdist processes: its tests mostly wait on the sweeps they start, so
# one process keeps 0.9 of 2 cores busy, two 1.73, three 1.82 (940 s against 1013 s); four were no
# faster (897 s against 882 s). Each module runs on one process (loadfile), so a module's Ray cluster
# or module-scoped sweep is made once (xdist_group marks did not hold with a module-level pytestmark);
# the longest modules go first (conftest.py)
TEST_WORKERS ?= 3
test: BYTECODE :=
test: export PYTHONDONTWRITEBYTECODE :=
test: install browser
	$(VENV)/bin/ruff check sweeper tests benchmarks examples hydra_plugins
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

# every benchmark side by side in one run (about 2 hours on 2 cores): writes and prints benchmarks/REPORT.md.
# search=gp needs PyTorch: 2.13.0 is a CPU wheel on our machines (elsewhere pip may fetch a CUDA build);
# `make bench BENCH_TORCH=` skips it, and the GP rows then read "n/a (needs torch)".
BENCH_TORCH ?= torch==2.13.0
bench: install
	$(if $(BENCH_TORCH),$(PY) -m pip install -q '$(BENCH_TORCH)')
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) .sweeps mlflow.db mlruns examples/*/.sweeps examples/*/mlflow.db examples/*/mlruns
