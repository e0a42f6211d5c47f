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

.PHONY: run test build web bootstrap unit integration e2e bench soak clean fuzz test-sanitize test-tsan \
	install package bootstrap-package

run: bootstrap build
	./$(BUILD_DIR)/ssehub $(ARGS)

test: bootstrap build
	scripts/test-all

build: web
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

web:
	@if [ -f web/package.json ]; then scripts/npm-install web && (cd web && npm run --silent build); fi

bootstrap:
	@scripts/bootstrap

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
