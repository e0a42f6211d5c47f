# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
BUILD_DIR ?= build
JOBS ?= 2
ARGS ?=

.PHONY: run test build web bootstrap unit integration e2e bench soak clean

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

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

bench: bootstrap build
	@scripts/bootstrap bench
	bench/run

clean:
	rm -rf $(BUILD_DIR) web/dist
