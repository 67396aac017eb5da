# octolb: `make run` starts the service on its embedded defaults, `make test` runs the tests.
# Both first run an idempotent set-up: Debian packages (haproxy, keepalived, iputils-ping for
# PING health monitors, iproute2 for the tests' network namespaces) and .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# A real Keystone for the tests of `auth_strategy = keystone` (tests/integration/keystone.py),
# in its own virtualenv: its pins are not octolb's.
KS_VENV  := .venv-keystone
KS_STAMP := $(KS_VENV)/.installed

.PHONY: run test setup system-deps lint bench clean

setup: system-deps $(STAMP) $(KS_STAMP)

system-deps:
	@missing=""; \
	for pkg in haproxy keepalived iputils-ping iproute2; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

$(KS_STAMP):
	test -x $(KS_VENV)/bin/python || $(PYTHON) -m venv $(KS_VENV)
	$(KS_VENV)/bin/python -m pip install -q 'keystone>=26'
	touch $(KS_STAMP)

run: setup
	$(VENV)/bin/octolb up $(ARGS)

test: setup
	$(PY) -m ruff check octolb tests
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check octolb tests

clean:
	rm -rf $(VENV) $(KS_VENV) .pytest_cache

# Benchmarks (issue 6): never part of `make test`, never a CI failure. `make bench` is the full
# run (< 30 min), `make bench-quick` a ~2-minute subset; both rewrite docs/benchmarks.md and
# write raw JSON under bench/results/. wrk and nginx come from Debian when missing.
.PHONY: bench-quick bench-deps

bench-deps:
	@missing=""; \
	for pkg in wrk nginx; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

bench: setup bench-deps
	-$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup bench-deps
	-$(PY) -m bench --quick $(BENCH_ARGS)
