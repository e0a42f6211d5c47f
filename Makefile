# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
BUILD_DIR ?= build
JOBS ?= 2
ARGS ?=
# Compiled objects are cached outside the clone, so a fresh clone (CI) rebuilds in seconds.
# Paths are made relative to the clone, so the cache serves any checkout location.
export CCACHE_DIR ?= $(HOME)/.cache/ssehub/ccache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true
export CCACHE_MAXSIZE ?= 5G

PREFIX ?= /usr/local
SHELL := /bin/bash

.PHONY: run test build server web bootstrap bootstrap-run unit integration e2e bench soak clean fuzz \
	test-sanitize test-tsan install package bootstrap-package

# Only what running needs: the packages the build links, the server and the web UI (no unit
# tests, load generator or test tools). The first run on a fresh machine takes about 3 minutes
# (the compiler); the next ones start at once.
run: bootstrap-run server web
	@echo "ssehub: starting build/ssehub $(ARGS) (Ctrl-C stops it)"
	@./$(BUILD_DIR)/ssehub $(ARGS)

test: bootstrap build
	scripts/test-all

# Everything: the server, unit tests, load generator and web UI.
build: web
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

server:
	@echo "ssehub: building the server ($(BUILD_DIR)/ssehub; the first build takes a few minutes)"
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@set -o pipefail; cmake --build $(BUILD_DIR) -j$(JOBS) --target ssehub -- --no-print-directory | sed '/Built target/d'

# The web UI is rebuilt only when its sources change.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
	web/package-lock.json web/vite.config.ts web/tsconfig.json
web: web/dist/index.html
web/dist/index.html: $(WEB_SOURCES)
	@echo "ssehub: building the web UI (web/dist)"
	@scripts/npm-install web
	@cd web && npm run --silent build >/dev/null
	@touch $@

bootstrap:
	@scripts/bootstrap

bootstrap-run:
	@scripts/bootstrap run

# What building and running need, and help2man and dpkg-dev for install and package.
bootstrap-package:
	@scripts/bootstrap package

# The binary, web UI, config, systemd unit and man page under PREFIX (DESTDIR is honoured).
# The prefix is set at configure time, since the unit and config name the installed paths.
install: bootstrap-package build
	cmake -S . -B $(BUILD_DIR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --install $(BUILD_DIR)

# The Debian package of the same files (prefix /usr), in $(BUILD_DIR)/packages/.
package: bootstrap-package build
	cmake -S . -B $(BUILD_DIR) -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	cd $(BUILD_DIR) && cpack -G DEB

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

bench: bootstrap build
	@scripts/bootstrap bench
	bench/run

# Not part of `make test`: 30 minutes by default (SOAK_SECONDS=120 make soak for a short run).
soak: bootstrap build
	scripts/soak

# libFuzzer targets (clang, ASan + UBSan), FUZZ_SECONDS each (default 60); part of `make test`.
fuzz: bootstrap
	JOBS=$(JOBS) scripts/fuzz-all

# The unit and integration suites against an ASan + UBSan build (build-asan).
test-sanitize: bootstrap
	JOBS=$(JOBS) scripts/test-sanitize

# Hub, history and store unit tests under ThreadSanitizer (build-tsan).
test-tsan: bootstrap
	JOBS=$(JOBS) scripts/test-tsan

clean:
	rm -rf $(BUILD_DIR) web/dist
