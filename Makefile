# quecemu: two entry points, both working on a fresh Debian machine.
#   make demo   set up, then run the main job on embedded defaults
#   make test   set up, then run the whole test suite
# Set-up installs Debian packages by name when run as root, and otherwise says which to
# install; then a virtual environment (.venv) and the npm test peers (tests/peers).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# socat picocom: a real terminal tool in the tests. libcoap3-bin: libcoap's DTLS peers.
# docker-compose: validates docker-compose.yml. nodejs npm: the lwm2m-node-lib peer.
# (No compiler: every Python dependency, python-mbedtls included, installs from wheels.)
# chromium chromium-driver: the server's web page is tested in headless Chromium.
DEB_PACKAGES := python3-venv socat picocom libcoap3-bin docker-compose chromium chromium-driver
DEB_COMMANDS := socat picocom coap-server-openssl docker-compose chromium chromedriver
# mosquitto: the MQTT broker the MQTT AT commands are tested against.
DEB_PACKAGES += mosquitto
DEB_COMMANDS += mosquitto
# dnsmasq-base: a DNS server on loopback for serve --replica compose's PTR lookup.
DEB_PACKAGES += dnsmasq-base
DEB_COMMANDS += dnsmasq
# gnutls-bin: gnutls-serv/gnutls-cli, DTLS peers without extended master secret or RFC 5746.
DEB_PACKAGES += gnutls-bin
DEB_COMMANDS += gnutls-serv gnutls-cli
LESHAN ?=
LESHAN_BS ?=

.PHONY: setup system-packages demo test lint bench clean

setup: system-packages $(VENV)/.installed tests/peers/node_modules/.installed

system-packages:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing node"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "set-up: missing$$missing"; \
	pkgs="$(DEB_PACKAGES)"; command -v node >/dev/null || pkgs="$$pkgs nodejs npm"; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$pkgs; \
	else \
		echo "Not root (or no apt-get): please run  sudo apt-get install $$pkgs  and retry."; \
		exit 1; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

tests/peers/node_modules/.installed: tests/peers/package.json tests/peers/package-lock.json
	cd tests/peers && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/python -m emulator.app.demo $(if $(LESHAN),--leshan $(LESHAN),) \
		$(if $(LESHAN_BS),--leshan-bs $(LESHAN_BS),)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check emulator client_api scenario_tool tests benchmarks
	$(BIN)/mypy --strict emulator client_api scenario_tool tests benchmarks
	$(BIN)/lint-imports  # the floors: contracts in pyproject.toml [tool.importlinter]

clean:
	rm -rf $(VENV) tests/peers/node_modules .pytest_cache .mypy_cache .ruff_cache
