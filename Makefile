# hls_translate: `make demo` runs the main job, `make test` runs the whole test suite.
# Both first install what they need, idempotently: QGIS 3.22 from Debian's packages, a venv built on
# Debian's /usr/bin/python3 with system site-packages (so QGIS's and GDAL's bindings are visible), and
# the pinned Python dependencies.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SYS_PYTHON := /usr/bin/python3
STAMP := $(VENV)/.installed
OUT ?= out
PYTEST_ARGS ?=

export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup system-deps test demo plugin-zip bench clean

setup: $(STAMP)

system-deps:
	@scripts/install_system_deps.sh

$(STAMP): pyproject.toml requirements/constraints.txt | system-deps
	@test -x $(PY) || $(SYS_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade-strategy only-if-needed -c requirements/constraints.txt -e ".[cpu,train,test,batch]"
	@touch $@

test: system-deps $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: system-deps $(STAMP)
	@scripts/demo.sh $(OUT)

plugin-zip: system-deps $(STAMP)
	$(PY) scripts/build_plugin_zip.py --out dist

bench: system-deps $(STAMP)
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f; done

clean:
	rm -rf $(VENV) dist $(OUT) .pytest_cache
