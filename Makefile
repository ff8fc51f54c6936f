# Needs only Python 3.11+ (with venv): the embedded PostgreSQL and Redis come from PyPI.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000

.PHONY: venv run test bench clean

venv: $(VENV)/.stamp

# Re-installs only when pyproject.toml changes.
$(VENV)/.stamp: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e '.[dev,embedded]'
	touch $@

# The benchmark's own extras (load client, chart, profiler) on top of dev.
$(VENV)/.stamp-bench: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e '.[dev,embedded,bench]'
	touch $@

run: venv
	$(VENV)/bin/order-engine dev --port $(PORT)

test: venv
	$(VENV)/bin/pytest -q

# Full run (~9 min): BENCHMARKS.md + bench/results/. `make bench ARGS=--quick`: ~2 min, under build/bench/.
bench: $(VENV)/.stamp-bench
	$(VENV)/bin/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
