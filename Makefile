# The two commands of the README: `make demo` and `make test`. Both create or refresh .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests need (a real MQTT broker, the zbar library for pyzbar, a headless browser and its
# WebDriver for the officers' console, the Latin and Han fonts tools/plates draws plates with).
APT_PACKAGES := mosquitto mosquitto-clients libzbar0 chromium chromium-driver fonts-dejavu-core fonts-wqy-zenhei
# Node.js and npm for the independent VDA 5050 vehicle gate_igv's tests drive; only if there is no npm at all
# (a Node.js from elsewhere, e.g. NodeSource's, bundles npm and conflicts with Debian's npm package).
NODE_APT_PACKAGES := nodejs npm
# The classical offline reader bench/plate.py compares the plate recogniser with (Tesseract 5, Latin + Chinese).
BENCH_APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim

.PHONY: demo test lint typecheck imports unit system-deps npm-deps node-deps bench-deps bench clean

# apt-get install those of the Debian packages $(1) that are missing
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
endef

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

# The demo runs with the bridge's IGVs (profiles/demo-igv.toml) when the official VDA 5050 schemas are on this
# machine (where gate_igv looks for them: plugins/gate_igv/README.md), else without them (profiles/demo.toml).
VDA5050 := $(or $(GATECORE_VDA5050_SCHEMAS),$(firstword $(wildcard specs/vda5050 ../shared/specs/vda5050 /usr/share/vda5050)))
DEMO_PROFILE := $(if $(VDA5050),profiles/demo-igv.toml,profiles/demo.toml)

demo: $(STAMP)
	$(BIN)/python -m tools.demo profiles/demo.toml   # the demo's world and assets into var/demo/ (reused when up to date)
	@$(if $(VDA5050),,echo "no VDA 5050 schemas found (GATECORE_VDA5050_SCHEMAS): the demo runs without its IGVs")
	@echo "officers' console: http://127.0.0.1:8780/ - account demo, password \$$GATECORE_DEMO_PASSWORD or the one printed below"
	GATECORE_VDA5050_SCHEMAS=$(VDA5050) $(BIN)/gatecore run $(DEMO_PROFILE) --crossings 300

system-deps:
	$(call apt_install,$(APT_PACKAGES))

# the npm packages of the tests (tests/vda5050_lib/package-lock.json) into var/npm/; offline once installed
npm-deps: system-deps
	@command -v npm >/dev/null || $(MAKE) --no-print-directory node-deps
	sh tests/vda5050_lib/install.sh

node-deps:
	$(call apt_install,$(NODE_APT_PACKAGES))

bench-deps: system-deps
	$(call apt_install,$(BENCH_APT_PACKAGES))

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

test: system-deps npm-deps lint typecheck imports unit

bench: $(STAMP) bench-deps
	$(BIN)/python -m pip install -q -e '.[all,dev,bench]'   # the baselines (faiss, usearch)
	$(BIN)/python bench/core_latency.py
	$(BIN)/python bench/hardware.py
	$(BIN)/python bench/barcode.py
	$(BIN)/python bench/ioc.py
	$(BIN)/python bench/link.py
	$(BIN)/python bench/igv.py
	$(BIN)/python bench/embedding_search.py --n 100000
	$(BIN)/python bench/face_pipeline.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/plate.py

clean:
	rm -rf $(VENV) build *.egg-info
