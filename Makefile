# The two commands of the README:
#   make demo   set up (first time: builds llama.cpp, ~5-8 min) and run the flagship scenario
#               on the embedded local model, offline, no API key
#   make test   set up (also Debian's chromium for the browser tests, mosquitto for the MQTT
#               tests, PostgreSQL for the checkpoint-store tests and Arize Phoenix for the
#               telemetry tests, llama.cpp's own llama-server for the parallel-slot tests) and
#               run lint, the import-layer contracts, type checks and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# llama.cpp for a portable x86-64 AVX2 CPU: its -march=native build crashed (SIGSEGV in decode)
# on a machine reporting AMX and AVX-512. Override CMAKE_ARGS for another build.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export PIP_DISABLE_PIP_VERSION_CHECK = 1
CHROMIUM ?= /usr/bin/chromium
# Arize Phoenix, the real OTLP receiver of the telemetry tests, in a venv of its own (its
# dependencies are not GWA's); the tests start and stop it themselves.
PHOENIX_VENV ?= .venv-phoenix
PHOENIX := $(PHOENIX_VENV)/bin/phoenix
MOSQUITTO ?= /usr/sbin/mosquitto
# Debian's PostgreSQL server for the PostgreSQL checkpoint-store tests (they start and stop a
# server of their own in a temporary folder; the package's service is not needed).
POSTGRES ?= /usr/lib/postgresql
# llama.cpp's own server (llama-server: parallel slots, continuous batching), built from the
# llama.cpp sources vendored in llama-cpp-python's source package (the version the embedded model
# uses; neither PyPI nor Debian 12 ships llama-server). No web UI; nothing is fetched but that
# source package.
LLAMA_CPP_PYTHON := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml | head -1)
LLAMA_SERVER := $(VENV)/bin/llama-server
LLAMA_SERVER_BUILD := $(VENV)/llama-server-build
LLAMA_SERVER_CACHE ?= $(HOME)/.cache/gwa/llama-server-$(LLAMA_CPP_PYTHON)-$(shell echo '$(CMAKE_ARGS)' | md5sum | cut -c1-8)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test lint typecheck setup setup-local bench cassettes clean llama-server llama-server-build

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.local-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[local]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,local]"
	touch $@ $(VENV)/.local-installed

# Debian's Chromium for the viewer's browser tests (Playwright drives it; no browser download).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# Debian's mosquitto (and its clients) for the MQTT tests; the tests start and stop brokers
# themselves, so the package's own service is not needed.
$(MOSQUITTO):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients openssl

$(POSTGRES):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql

$(PHOENIX):
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install -q arize-phoenix==20.26.1

# Built once per machine (like pip's wheel cache): the binary is kept in LLAMA_SERVER_CACHE, by
# version and build flags, and copied into each virtual environment.
$(LLAMA_SERVER): pyproject.toml | $(BIN)/python
	@if [ ! -x $(LLAMA_SERVER_CACHE)/llama-server ]; then \
	  echo "building llama-server $(LLAMA_CPP_PYTHON) (once per machine; about 10 min on 2 cores)"; \
	  $(MAKE) --no-print-directory llama-server-build || exit 1; \
	fi
	cp $(LLAMA_SERVER_CACHE)/llama-server $@

llama-server-build:
	rm -rf $(LLAMA_SERVER_BUILD) && mkdir -p $(LLAMA_SERVER_BUILD) $(LLAMA_SERVER_CACHE)
	$(BIN)/pip download -q --no-deps --no-binary :all: \
	  llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(LLAMA_SERVER_BUILD)
	tar xzf $(LLAMA_SERVER_BUILD)/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(LLAMA_SERVER_BUILD)
	command -v cmake > /dev/null || $(BIN)/pip install -q cmake  # PyPI's cmake where none is installed
	PATH="$(CURDIR)/$(BIN):$$PATH" cmake -S $(LLAMA_SERVER_BUILD)/llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp \
	  -B $(LLAMA_SERVER_BUILD)/build -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) \
	  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
	  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
	  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF > $(LLAMA_SERVER_BUILD)/cmake.log \
	  || (tail -40 $(LLAMA_SERVER_BUILD)/cmake.log; exit 1)
	PATH="$(CURDIR)/$(BIN):$$PATH" cmake --build $(LLAMA_SERVER_BUILD)/build --target llama-server > $(LLAMA_SERVER_BUILD)/build.log \
	  || (tail -40 $(LLAMA_SERVER_BUILD)/build.log; exit 1)
	cp $(LLAMA_SERVER_BUILD)/build/bin/llama-server $(LLAMA_SERVER_CACHE)/llama-server
	rm -rf $(LLAMA_SERVER_BUILD)

llama-server: $(LLAMA_SERVER)
setup-local: $(VENV)/.local-installed
setup: $(VENV)/.dev-installed

demo: setup-local
	$(BIN)/gwa run brainstorm

lint: setup
	$(BIN)/ruff format --check gwa tests bench
	$(BIN)/ruff check gwa tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: lint typecheck $(CHROMIUM) $(MOSQUITTO) $(POSTGRES) $(PHOENIX) $(LLAMA_SERVER)
	$(BIN)/pytest

bench: setup $(PHOENIX) $(LLAMA_SERVER)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/cycle.py
	$(BIN)/python bench/local_model.py
	$(BIN)/python bench/llama_server.py
	$(BIN)/python bench/drive_estimators.py
	$(BIN)/python bench/viewer.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/admission_bounds.py
	$(BIN)/python bench/mqtt.py
	$(BIN)/python bench/otel.py
	$(BIN)/python bench/checkpoint.py
	$(BIN)/python bench/soak.py --mqtt
	$(BIN)/python bench/tools.py
	$(BIN)/python bench/serve.py

# Re-record the shipped cassettes from the real local model (after changing prompts or schemas).
cassettes: setup-local
	for s in brainstorm debate bookkeeper; do \
	  rm -rf traces/cassette-memory; \
	  $(BIN)/gwa run $$s --model local --record gwa/scenarios/cassettes/$$s.json --quiet \
	    --trace traces/$$s-cassette.jsonl --memory traces/cassette-memory || true; \
	done

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) traces test-output bench/results .gwa
