# Front end for people and CI. Every target installs what is missing first (scripts/bootstrap).
#   make demo    build, then run the end-to-end job on embedded defaults
#   make test    the same, then every test
#   make build   release build; the tool is build/bin/mlaas
#   make asan | tsan | dev   build and test one of the other presets
#   make bench   run the benchmarks in bench/ and print their figures
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DMLAAS_WERROR=ON
endif

.PHONY: all bootstrap build demo test asan tsan dev fuzz bench clean
all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset release $(CMAKE_FLAGS) >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: build
	@scripts/demo

test: demo
	@scripts/test-all

dev asan tsan: bootstrap
	@cmake --preset $@ $(CMAKE_FLAGS) >/dev/null
	@cmake --build --preset $@ -j $(JOBS)
	@ctest --preset $@ -j $(JOBS)

fuzz: bootstrap
	@scripts/fuzz-smoke

bench: build
	@scripts/bench

clean:
	rm -rf build build-dev build-asan build-tsan build-fuzz
