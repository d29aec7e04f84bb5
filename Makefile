# skiff: set-up, tests, demo and benchmarks. Run as root on Debian 12.
#   make install demo     install and run a first container
#   make test             the whole suite (starts the fixtures and registry it needs)
# See README.md.

REPO        := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV        ?= /opt/skiff/venv
PY          := $(VENV)/bin/python
SKIFF_SHARED ?= $(abspath $(REPO)/../shared)
export SKIFF_SHARED
# the whole suite must stay under 30 minutes on 2 cores; a hang is cut at 40
TEST_TIMEOUT ?= 2400
PYTEST_ARGS ?= -q -ra --durations=15
BENCH_ARGS  ?=
# the scripts read these: where the venv goes, and which skiff/skiffd the demo runs
export SKIFF_VENV := $(VENV)
export SKIFF  ?= $(VENV)/bin/skiff
export SKIFFD ?= $(VENV)/bin/skiffd

.PHONY: help install demo test test-deps test-unit fixtures bench bench-smoke clean uninstall

help:
	@sed -n '1,4p' $(REPO)/Makefile; echo; \
	 echo "targets: install demo test test-deps test-unit fixtures bench bench-smoke clean uninstall"

install:
	$(REPO)/scripts/install.sh

$(PY):
	$(REPO)/scripts/install.sh

demo: $(PY)
	$(REPO)/scripts/demo.sh

fixtures:
	$(REPO)/scripts/fixtures.sh start

# what the tests compare against (runc, docker.io, mmdebstrap): idempotent, fast when present
test-deps:
	$(REPO)/scripts/install.sh --test

# pytest's exit 5 (no tests collected) fails too, saying so; 124 is the time limit.
# The fixture registry is stopped afterwards unless it was running before.
REGISTRY_PID := /tmp/fixture-registry-$(or $(SKIFF_TEST_REGISTRY_PORT),5000)/pid
test: test-deps
	keep=0; if [ -f $(REGISTRY_PID) ] && kill -0 "$$(cat $(REGISTRY_PID))" 2>/dev/null; then keep=1; fi; \
	$(REPO)/scripts/fixtures.sh start; \
	cd $(REPO) && rc=0 && timeout -k 60 $(TEST_TIMEOUT) $(PY) -m pytest tests $(PYTEST_ARGS) || rc=$$?; \
	[ $$keep = 1 ] || { $(REPO)/scripts/fixtures.sh stop >/dev/null 2>&1; rm -rf $(dir $(REGISTRY_PID)); } || true; \
	case $$rc in \
	0) ;; \
	5) echo "make test: FAILED: pytest collected no tests (exit 5)" >&2 ;; \
	124|137) echo "make test: FAILED: the suite ran past TEST_TIMEOUT=$(TEST_TIMEOUT) s" >&2 ;; \
	*) echo "make test: FAILED: pytest exited $$rc" >&2 ;; \
	esac; exit $$rc

test-unit: $(PY)
	cd $(REPO) && $(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: test-deps
	$(REPO)/scripts/fixtures.sh images
	$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q matplotlib || true
	cd $(REPO) && $(PY) bench/run_latency.py $(BENCH_ARGS)

bench-smoke: test-deps
	$(REPO)/scripts/fixtures.sh images
	cd $(REPO) && $(PY) bench/run_latency.py --smoke $(BENCH_ARGS)

# stops the daemon started by `make demo` (by its pid file) and removes caches
clean:
	-$(REPO)/scripts/skiffd.sh stop
	rm -rf $(REPO)/.pytest_cache $(REPO)/build $(REPO)/dist
	find $(REPO)/src $(REPO)/tests $(REPO)/bench -name __pycache__ -type d -prune -exec rm -rf {} +

# removes what `make install` made; keeps /etc/skiff and the data in
# /var/lib/skiff unless PURGE=1
uninstall:
	-$(REPO)/scripts/skiffd.sh stop
	for s in skiff skiffd skiff-runtime skiff-shim; do \
	    if [ "$$(readlink /usr/local/bin/$$s)" = "$(VENV)/bin/$$s" ]; then rm -f /usr/local/bin/$$s; fi; \
	done
	if [ -f /etc/systemd/system/skiffd.service ]; then \
	    systemctl disable skiffd.service || true; rm -f /etc/systemd/system/skiffd.service; \
	    systemctl daemon-reload || true; fi
	rm -rf $(VENV)
	if [ "$(PURGE)" = 1 ]; then rm -rf /etc/skiff /var/lib/skiff /var/log/skiffd.log; fi
