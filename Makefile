# dynis build. Plain GNU make; Debian's libraries through pkg-config; objects out of tree per
# build type (build/release, build/debug, build/asan); header dependencies from -MMD.
#
#   make run     install deps, build release, start a node with conf/dynis.conf
#   make test    install deps, build, run every test suite (unit, integration, clients,
#                sanitizers, chaos smoke as root, fuzz) and print "N passed, N failed"
#   make bench   dynis vs redis-server side by side, writes docs/BENCHMARKS.md
#   make chaos   five nodes in network namespaces under a random fault schedule (root;
#                CHAOS_SECONDS, CHAOS_SEED, CHAOS_MIN_ACCEPT), summary in build/chaos-summary.json
#   make fuzz    build the libFuzzer targets (clang-14)

BUILD ?= release
OUT := build/$(BUILD)
JOBS ?= $(shell nproc)

CXX ?= g++
CXXSTD := -std=c++17
WARN := -Wall -Wextra -Werror
PKG_SERVER := rocksdb libuv libxxhash libcrypto
PKG_TEST := hiredis

CXXFLAGS_release := -O2 -g -DNDEBUG
CXXFLAGS_debug := -O0 -g
CXXFLAGS_asan := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_asan := -fsanitize=address,undefined

CPPFLAGS := -Isrc $(shell pkg-config --cflags $(PKG_SERVER) 2>/dev/null)
ALL_CXXFLAGS = $(CXXSTD) $(WARN) $(CXXFLAGS_$(BUILD)) -MMD -MP $(CXXFLAGS)
LIBS := $(shell pkg-config --libs $(PKG_SERVER) 2>/dev/null) -lpthread
TEST_LIBS := $(shell pkg-config --libs $(PKG_TEST) 2>/dev/null)
TEST_CPPFLAGS := $(shell pkg-config --cflags $(PKG_TEST) 2>/dev/null)

LIB_SRCS := $(shell find src -name '*.cc' ! -name main.cc | sort)
LIB_OBJS := $(LIB_SRCS:%.cc=$(OUT)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/*.cc))
UNIT_OBJS := $(UNIT_SRCS:%.cc=$(OUT)/%.o)
INTEG_SRCS := $(sort $(wildcard tests/integration/*.cc))
INTEG_OBJS := $(INTEG_SRCS:%.cc=$(OUT)/%.o)
SIM_SRCS := $(sort $(wildcard tests/sim/*.cc))
SIM_OBJS := $(SIM_SRCS:%.cc=$(OUT)/%.o) $(OUT)/tests/unit/catch_main.o

SERVER := $(OUT)/dynis-server
UNIT := $(OUT)/tests/unit-tests
INTEG := $(OUT)/tests/integration-tests
SIM := $(OUT)/tests/sim-tests

.PHONY: all deps build run test test-only unit integration asan fuzz bench chaos clean format

all: build

deps:
	@bash deps/install.sh

build: $(SERVER) $(UNIT) $(INTEG) $(SIM)
ifeq ($(BUILD),release)
	@ln -sf ../$(SERVER) src/dynis-server
endif

$(OUT)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(ALL_CXXFLAGS) -c $< -o $@

$(OUT)/tests/%.o: CPPFLAGS += $(TEST_CPPFLAGS)
# Catch2's runner (std::regex inside) trips a false -Wmaybe-uninitialized at -O1 with ASan.
$(OUT)/tests/unit/catch_main.o $(OUT)/tests/integration/main.o: CXXFLAGS += -Wno-maybe-uninitialized

$(OUT)/libdynis.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(SERVER): $(OUT)/src/main.o $(OUT)/libdynis.a
	$(CXX) $(LDFLAGS_$(BUILD)) -o $@ $^ $(LIBS)

$(UNIT): $(UNIT_OBJS) $(OUT)/libdynis.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_$(BUILD)) -o $@ $^ $(LIBS)

$(SIM): $(SIM_OBJS) $(OUT)/libdynis.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_$(BUILD)) -o $@ $^ $(LIBS)

$(INTEG): $(INTEG_OBJS) $(OUT)/libdynis.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS_$(BUILD)) -o $@ $^ $(LIBS) $(TEST_LIBS)

run: deps
	@$(MAKE) --no-print-directory build BUILD=release -j$(JOBS)
	./src/dynis-server conf/dynis.conf

# Everything CI runs. utils/run-tests prints one closing "N passed, N failed" line.
test: deps
	@$(MAKE) --no-print-directory build BUILD=release -j$(JOBS)
	@$(MAKE) --no-print-directory build BUILD=asan -j$(JOBS)
	@$(MAKE) --no-print-directory fuzz -j$(JOBS)
	@bash utils/run-tests

# The libFuzzer targets (clang-14): the library is built once with fuzzer instrumentation,
# then each tests/fuzz/*.cc links against it.
FUZZ_OUT := build/fuzz
FUZZ_CXX := clang++-14
FUZZ_FLAGS := -std=c++17 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
  -Isrc $(shell pkg-config --cflags $(PKG_SERVER) 2>/dev/null) -MMD -MP
FUZZ_OBJS := $(LIB_SRCS:%.cc=$(FUZZ_OUT)/obj/%.o)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cc,$(FUZZ_OUT)/%,$(wildcard tests/fuzz/*.cc))

fuzz: $(FUZZ_TARGETS)

$(FUZZ_OUT)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/libdynis.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_OUT)/%: tests/fuzz/%.cc $(FUZZ_OUT)/libdynis.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OUT)/libdynis.a $(LIBS)

bench: deps
	@$(MAKE) --no-print-directory build BUILD=release -j$(JOBS)
	bash utils/bench
	/usr/bin/python3 utils/bench-handoff
	/usr/bin/python3 utils/bench-aae

# The long chaos schedule (tests/chaos/chaos.py); `make test` runs its two-minute smoke schedule.
chaos: deps
	@$(MAKE) --no-print-directory build BUILD=release -j$(JOBS)
	/usr/bin/python3 tests/chaos/chaos.py --schedule long --server build/release/dynis-server \
	  --summary build/chaos-summary.json

format:
	clang-format -i $$(find src tests -name '*.h' -o -name '*.cc')

clean:
	rm -rf build src/dynis-server

-include $(LIB_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(INTEG_OBJS:.o=.d) $(SIM_OBJS:.o=.d) $(OUT)/src/main.d
-include $(FUZZ_OBJS:.o=.d) $(FUZZ_TARGETS:=.d)
