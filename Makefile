# Quick start: `make test` (install deps, build, run every test) and `make run`
# (install deps, build, start the Counter example in the foreground as "demo";
# ARGS=... are passed on, e.g. ARGS=--fresh).
BUILD      ?= build
ASAN_BUILD ?= build/asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX     ?= /usr/local
# `make fuzz`: the clang build of fuzz/ (shared with the ctest smoke runs) and
# the seconds each target runs.
FUZZ_BUILD ?= $(BUILD)/clang-fuzz
FUZZ_TIME  ?= 600

.PHONY: all deps configure build test test-asan test-slow run bench fuzz install deb clean format-check

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNMGR_WERROR=ON $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The default run: every test except those labelled "slow".
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow --timeout 300

# Fault tests that take minutes (many SIGKILL rounds); run deliberately.
test-slow: build
	cd $(BUILD) && ctest --output-on-failure -L slow --timeout 1200

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDYNMGR_SANITIZE=ON \
	  -DDYNMGR_BUILD_BENCH=OFF -DDYNMGR_WERROR=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE slow --timeout 600

run: build
	@if [ -x $(BUILD)/bin/counter ]; then exec $(BUILD)/bin/counter -n demo $(ARGS); \
	else echo "make run: the Counter example ($(BUILD)/bin/counter) is not built yet" >&2; exit 1; fi

bench: build
	@sh bench/run.sh $(BUILD)

# Every libFuzzer target for FUZZ_TIME seconds, one after the other (README
# "Fuzzing"); new inputs go to $(FUZZ_BUILD)/corpus/<target>, crashes to
# $(FUZZ_BUILD)/artifacts/. `make test` runs each for seconds only.
fuzz: deps
	sh fuzz/fuzz.sh build $(FUZZ_BUILD)
	for t in $$(sh fuzz/fuzz.sh list); do \
	  nice sh fuzz/fuzz.sh long $(FUZZ_BUILD) $$t $(FUZZ_TIME) || exit 1; done

# dynmgrd, dynmgrctl, the public headers, the libraries and the CMake package
# (find_package(dynmgr)) under $(PREFIX); DESTDIR=/some/root stages them there.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# The same files under /usr as a Debian package: $(BUILD)/dynmgr_<version>_<arch>.deb.
deb: build
	cd $(BUILD) && cpack -G DEB

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD)
