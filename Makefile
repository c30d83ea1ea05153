# make demo / make test: each sets up what it needs (Debian packages, .venv), idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := jackd2 libportaudio2 fluidsynth fluid-soundfont-gm liblo-tools redis-server iproute2 sox chromium fonts-noto-color-emoji
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PY_STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml | md5sum | cut -c1-12)
APT_STAMP := .stamp-apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-12)

.PHONY: setup demo test lint bench clean screenshots

setup: $(APT_STAMP) $(PY_STAMP)

$(APT_STAMP):
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  echo "jackd2 jackd/tweak-rt-limits boolean false" | $(SUDO) debconf-set-selections; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	@rm -f $(VENV)/.stamp-*; touch $@

demo: setup
	$(BIN)/stage demo -o out/demo

test: setup
	$(BIN)/ruff check stage tests benchmarks
	$(BIN)/mypy stage
	$(BIN)/python -m pytest -q

# The pages' browser tests write out/screenshots/; the README shows the committed copy.
screenshots: setup
	$(BIN)/python -m pytest -q tests/test_pages_phone.py tests/test_pages_console.py
	mkdir -p docs/screenshots && cp out/screenshots/*.png docs/screenshots/

lint: setup
	$(BIN)/ruff check stage tests benchmarks
	$(BIN)/mypy stage

clean:
	rm -rf $(VENV) .stamp-apt-* out
