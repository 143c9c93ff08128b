# Thin wrapper around CMake so a fresh Debian machine needs two commands:
#   make demo    the main job on a local sandbox cluster
#   make test    every test, in a normal and an ASan+UBSan build
# Both install missing Debian packages first (scripts/setup.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# Seconds per fuzz target: 'make fuzz' runs each for FUZZ_SECONDS,
# 'make test' for TEST_FUZZ_SECONDS (nine targets: three minutes in all).
FUZZ_SECONDS ?= 300
TEST_FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

PREFIX     ?= /usr/local

.PHONY: install all setup build build-asan build-fuzz browser-deps flags-deps fuzz test test-fast demo bench package clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The parsers of outside input under libFuzzer (clang, ASan+UBSan), each
# for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/NAME, whose
# seeds include every input that once crashed or hung one); a crash, a
# leak, an abort or an input slower than 10 s fails. bench/fuzz.sh counts
# the executions.
build-fuzz: setup
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHF_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: build-fuzz
	@for f in $(FUZZ_BUILD)/fuzz_*; do \
		[ -x $$f ] || continue; \
		name=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$name $(FUZZ_BUILD)/logs; \
		echo "== $$name ($(FUZZ_SECONDS) s) =="; \
		if ! ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$name \
			tests/fuzz/corpus/$${name#fuzz_} >$(FUZZ_BUILD)/logs/$$name 2>&1; then \
			tail -n 40 $(FUZZ_BUILD)/logs/$$name; exit 1; \
		fi; \
		grep "^Done" $(FUZZ_BUILD)/logs/$$name; \
	done

# The browser test's npm packages (tests/browser/package-lock.json, pinned),
# installed again when node_modules is missing or older than the lockfile.
# Only the npm registry is asked: the browser is Debian's chromium.
browser-deps: setup
	@if [ ! -d tests/browser/node_modules ] || \
		[ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then \
		npm ci --prefix tests/browser --no-audit --no-fund && touch tests/browser/node_modules; \
	fi

# Every test twice: once on the normal build, once under ASan+UBSan; then
# the fuzzers.
# The peers of tests/flags (flagd-core) and tests/ofrep (the OpenFeature SDK
# and its OFREP provider), each pinned by its package-lock.json,
# installed again when the lock file is newer than what is installed.
flags-deps: setup
	@for d in tests/flags tests/ofrep; do \
		if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules ]; then \
			npm ci --prefix $$d --no-audit --no-fund && touch $$d/node_modules || exit 1; \
		fi; \
	done

test: build build-asan browser-deps flags-deps
	@echo "== tests (RelWithDebInfo) =="
	@cd $(BUILD) && ctest --output-on-failure
	@echo "== tests (ASan+UBSan) =="
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

test-fast: build browser-deps flags-deps
	@cd $(BUILD) && ctest --output-on-failure

# hotfix and libhotfix-flags (library, header, hotfix-flags.pc) under
# PREFIX, staged under DESTDIR when it is set.
install: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD)

demo: build
	@bash scripts/demo.sh $(BUILD)/hotfix

bench: build
	@bash bench/config_rollout.sh $(BUILD)/hotfix
	@bash bench/load_vs_redis_benchmark.sh $(BUILD)/hotfix
	@bash bench/flags_propagation.sh $(BUILD)/hotfix
	@bash bench/guard_detection.sh $(BUILD)/hotfix
	@bash bench/guard_overhead.sh $(BUILD)/hotfix
	@bash bench/binary_rollout.sh $(BUILD)/hotfix
	@bash bench/data_repair.sh $(BUILD)/hotfix
	@bash bench/etcd_restart.sh $(BUILD)/hotfix
	@bash bench/stage.sh $(BUILD)/hotfix
	@bash bench/serve_api.sh $(BUILD)/hotfix
	@bash bench/flags_eval.sh $(BUILD)/hotfix
	@bash bench/drill.sh $(BUILD)/hotfix
	@bash bench/scale.sh $(BUILD)/hotfix
	@POINTS=$${POINTS:-30} bash bench/soak.sh $(BUILD)/hotfix

# The Debian package of the build: binary, man page (from the --help
# texts), systemd unit and docs, its Depends from the libraries linked.
package: build
	@cd $(BUILD) && cpack -G DEB

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
