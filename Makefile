# The README's two commands: `make lab` runs the whole lab on the local cluster, `make test` runs the suite.
# Both create the virtual environment from pyproject.toml first, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: lab test lint browser prometheus env-lab env-test clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-%: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	@touch $@

env-lab: $(VENV)/.installed-lab
env-test: $(VENV)/.installed-test

lab: env-lab
	$(BIN)/labkit run

lint: env-test
	$(BIN)/ruff check registry labkit tests bench
	$(BIN)/ruff format --check registry labkit tests bench
	$(BIN)/mypy

# The browser test drives Debian's Chromium headless; as root it is installed from Debian's packages.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "make: the browser test needs Chromium: sudo apt-get install chromium"; fi

# The monitoring tests run a real Prometheus server and promtool: Debian's package, installed as root.
# Its packaged service is disabled and stopped, so nothing listens on :9090 (the registry's metrics port).
prometheus:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
		&& if [ -d /run/systemd/system ]; then systemctl disable --now prometheus; \
		else invoke-rc.d prometheus stop 2>/dev/null || true; update-rc.d prometheus disable >/dev/null 2>&1 || true; fi; \
	else echo "make: the monitoring tests need Prometheus and promtool:" \
		"sudo apt-get install -y --no-install-recommends prometheus && sudo systemctl disable --now prometheus"; fi

test: lint browser prometheus
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
