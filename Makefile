# lua-sendpulse build.
#
#   make                      build the C core for Lua 5.4 (build/lua5.4/sendpulse/core.so)
#   make LUA_IMPL=luajit      the same sources for LuaJIT 2.1 (also lua5.3, lua5.1)
#   eval "$(make env)"        build, then set LUA_PATH and LUA_CPATH to this checkout
#   make test                 C unit tests + the busted suite against the local sandbox
#   make memcheck             the busted suite under valgrind (no error, no leak)
#   make check                test + memcheck + busted on LuaJIT, one closing count (CI)
#   make check-loaded         make check 3 times with every CPU busy (stress-ng)
#   make static               build/$(LUA_IMPL)/libsendpulse.a, to link into a C host
#   make host                 build and run the example C host (examples/host/)
#   make bench                the benchmarks (by hand; bench/setup installs nginx)
#   make fuzz                 every libFuzzer target for FUZZ_SECONDS (60) each
#                             (spec/fuzz/; make check runs a short pass)
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage    the library
#   make install-sandbox PREFIX=/usr/local               the sandbox (its own rock)
#   make dist                 build/dist/lua-sendpulse-<version>.tar.gz, the release archive
#   make config               print the resolved settings
#
# Every path is overridable (`?=`), so luarocks and distro packagers can pass
# their own LUA_INCDIR, CURL_INCDIR, LIBDIR, LUADIR, CFLAGS and LIBFLAG.
#
# Which Lua a build is for is decided by the headers it compiles against:
# the build directory is build/<lua5.X or luajit>, named from lua.h (and
# luajit.h) in LUA_INCDIR, so `luarocks --lua-version=5.1 make` builds for
# 5.1 whatever was built before. A change of compiler, flags or libraries
# rebuilds (the settings are kept in <build dir>/build-flags).

LUA_IMPL   ?= lua5.4
ifeq ($(LUA_IMPL),luajit)
LUA        ?= luajit
LUA_ABI    ?= 5.1
LUA_INCDIR ?= /usr/include/luajit-2.1
else
LUA_ABI    ?= $(patsubst lua%,%,$(LUA_IMPL))
LUA        ?= $(LUA_IMPL)
LUA_INCDIR ?= /usr/include/$(LUA_IMPL)
endif

CURL_INCDIR ?= /usr/include
CURL_LIBDIR ?= /usr/lib
CURL_LIBS   ?= -lcurl

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUADIR  ?= $(PREFIX)/share/lua/$(LUA_ABI)
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
LIBFLAG ?= -shared
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
           -Wpointer-arith -Wcast-qual -Wformat=2 -Wundef -Wvla
SP_CFLAGS := -std=gnu99 -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
             -I$(LUA_INCDIR) -I$(CURL_INCDIR) -Icsrc

# The Lua whose headers are in LUA_INCDIR: luajit, or lua<major>.<minor>
# from LUA_VERSION_NUM (504 -> lua5.4). Without a lua.h there, LUA_IMPL.
LUA_TARGET := $(shell if [ -f '$(LUA_INCDIR)/luajit.h' ]; then echo luajit; else \
                sed -n 's/^\#define[ 	]*LUA_VERSION_NUM[ 	]*\([0-9]\)0\([0-9]\).*/lua\1.\2/p' \
                '$(LUA_INCDIR)/lua.h' 2>/dev/null; fi)
LUA_TARGET := $(or $(LUA_TARGET),$(LUA_IMPL))
# luarocks passes BUILD_ROOT=build/luarocks (see the rockspec), so its builds
# never replace the one `make` made and the suite runs.
BUILD_ROOT ?= build
BUILD   := $(BUILD_ROOT)/$(LUA_TARGET)
MODULE  := $(BUILD)/sendpulse/core.so
# Redis for the shared token store and rate budget: its own module, so only
# users of Redis need libhiredis. Built when its header is there.
HIREDIS_INCDIR ?= /usr/include
HIREDIS_LIBS   ?= -lhiredis
HIREDIS_HEADER := $(wildcard $(HIREDIS_INCDIR)/hiredis/hiredis.h)
REDIS_MODULE   := $(if $(HIREDIS_HEADER),$(BUILD)/sendpulse/hiredis.so)
REDIS_NOTE     := $(if $(HIREDIS_HEADER),,hiredis-note)

# Everything that decides what the objects are; a change rebuilds them.
BUILD_FLAGS  := $(CC) $(SP_CFLAGS) | $(LIBFLAG) $(LDFLAGS) -L$(CURL_LIBDIR) $(CURL_LIBS) | $(HIREDIS_LIBS)
FLAGS_STAMP  := $(BUILD)/build-flags

# The release: its version is set once, in lua/sendpulse/version.lua.
VERSION   := $(shell sed -n 's/^return "\(.*\)"$$/\1/p' lua/sendpulse/version.lua)
DIST_NAME := lua-sendpulse-$(VERSION)
DIST      := build/dist/$(DIST_NAME).tar.gz

# Lua-free parts (sp_x.c with its header sp_x.h): no lua.h, no libcurl,
# unit-tested in C on their own.
PURE_SRC := csrc/sp_buf.c csrc/sp_clock.c csrc/sp_limiter.c csrc/sp_window.c csrc/sp_encode.c \
            csrc/sp_fs.c csrc/sp_shm.c csrc/sp_headers.c csrc/sp_sockets.c csrc/sp_scrub.c \
            csrc/sp_cleanup.c
# Lua-free but built on libcurl: the easy-handle settings both transports share.
CURL_SRC := csrc/sp_easy.c
# Parts that speak the Lua C API: sp_x_lua.c binds the Lua-free sp_x.c.
LUA_SRC  := csrc/sp_core_lua.c csrc/sp_http_lua.c csrc/sp_multi_lua.c csrc/sp_easy_lua.c \
            csrc/sp_auth_lua.c csrc/sp_limiter_lua.c csrc/sp_clock_lua.c \
            csrc/sp_json_encode_lua.c csrc/sp_json_decode_lua.c csrc/sp_encode_lua.c \
            csrc/sp_fs_lua.c csrc/sp_cleanup_lua.c
# For sendpulse.hiredis only: the Redis reply reader (Lua-free) and its
# binding (sp_resp_lua.c, in REDIS_OBJS).
REDIS_SRC := csrc/sp_resp.c
OBJS     := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(PURE_SRC) $(CURL_SRC) $(LUA_SRC))
REDIS_OBJS := $(BUILD)/obj/sp_hiredis_lua.o $(BUILD)/obj/sp_resp_lua.o \
              $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(REDIS_SRC))
DEPS     := $(OBJS:.o=.d) $(REDIS_OBJS:.o=.d)

C_TESTS  := $(patsubst spec/c/%.c,build/ctest/%,$(wildcard spec/c/test_*.c))

# The C core as a static library for programs that embed Lua: one object in
# which only luaopen_sendpulse_core stays global, so nothing else can clash
# with the host's own symbols.
STATIC   := $(BUILD)/libsendpulse.a
LD       ?= ld
AR       ?= ar
OBJCOPY  ?= objcopy
# The example host (Lua 5.4 only: it uses luaL_requiref).
HOST     := $(BUILD)/host
HOST_LIBS ?= -l$(LUA_IMPL)
ifeq ($(LUA_IMPL),lua5.4)
HOST_CHECKS := examples/host/check.sh
endif

.PHONY: all test check ctest busted memcheck asan install install-sandbox uninstall config clean lint \
        sandbox screenshots quickstart bench static host luajit-core test-support check-loaded env dist hiredis-note \
        FORCE fuzz fuzz-build fuzz-lua

all: $(MODULE) $(REDIS_MODULE) $(REDIS_NOTE)

hiredis-note:
	@echo "note: $(HIREDIS_INCDIR)/hiredis/hiredis.h not found: sendpulse.hiredis is not built," \
	  "so token_store = \"redis\" and rate_limit.shared = \"redis\" are unavailable" \
	  "(install libhiredis-dev, or pass HIREDIS_INCDIR, and build again)" >&2

# Rewritten only when the settings changed, so an unchanged build stays done.
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(BUILD_FLAGS)' | cmp -s - $@ || printf '%s\n' '$(BUILD_FLAGS)' >$@

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $(OBJS) -L$(CURL_LIBDIR) $(CURL_LIBS) -lm $(LDFLAGS)

$(BUILD)/sendpulse/hiredis.so: $(REDIS_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $(REDIS_OBJS) $(HIREDIS_LIBS) $(LDFLAGS)

$(BUILD)/obj/sp_hiredis_lua.o: csrc/sp_hiredis_lua.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) -I$(HIREDIS_INCDIR) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: csrc/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) -MMD -MP -c -o $@ $<

-include $(DEPS)

static: $(STATIC)

$(STATIC): $(OBJS)
	$(LD) -r -o $(BUILD)/obj/sendpulse_all.o $(OBJS)
	$(OBJCOPY) --keep-global-symbol=luaopen_sendpulse_core $(BUILD)/obj/sendpulse_all.o
	rm -f $@
	$(AR) rcs $@ $(BUILD)/obj/sendpulse_all.o

# The Lua files as C, for hosts that ship one binary (see the generator).
EMBED_C := $(BUILD)/sendpulse_embedded.c
$(EMBED_C): examples/host/embed_lua.lua $(shell find lua -name '*.lua' -not -path '*/sandbox/*')
	@mkdir -p $(dir $@)
	$(LUA) examples/host/embed_lua.lua lua $@

$(HOST): examples/host/host.c csrc/sendpulse_core.h $(STATIC) $(EMBED_C)
	$(CC) -std=gnu99 $(WARN) $(CFLAGS) -I$(LUA_INCDIR) -I$(CURL_INCDIR) -Icsrc -o $@ $< $(EMBED_C) $(STATIC) \
	  $(HOST_LIBS) -L$(CURL_LIBDIR) $(CURL_LIBS) -lm -ldl $(LDFLAGS)

host: $(HOST)
	LUA_IMPL=$(LUA_IMPL) examples/host/check.sh

# C unit tests for the Lua-free parts: built with the sanitizers on.
CTEST_FLAGS := -std=gnu99 -g -O1 $(WARN) -Icsrc -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -pthread
build/ctest/%: spec/c/%.c $(PURE_SRC) $(REDIS_SRC) spec/c/ctest.h $(wildcard csrc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CTEST_FLAGS) -o $@ $< $(PURE_SRC) $(REDIS_SRC) -lm

ctest: $(C_TESTS)
	@for t in $(C_TESTS); do $$t || exit 1; done

# For spec/secrets_spec.lua: a preload that zeroes what libcurl frees, so
# the memory scan sees the copies the library leaves (spec/c/wipe_libcurl.c).
# Plain (no sanitizers): it is loaded into an ordinary Lua process.
WIPE_LIBCURL := build/ctest/wipe_libcurl.so
$(WIPE_LIBCURL): spec/c/wipe_libcurl.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu99 $(WARN) -O2 -fPIC -shared -o $@ $< -ldl

# For the same scan, built for each Lua the suite runs on: a Lua module that
# zeroes what the Lua runtime frees (spec/c/wipe_lua_heap.c). Plain too.
LUA_HEAP_WIPER := $(BUILD)/test/wipe_lua_heap.so
$(LUA_HEAP_WIPER): spec/c/wipe_lua_heap.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu99 $(WARN) -O2 -fPIC $(LIBFLAG) -I$(LUA_INCDIR) -o $@ $<

# nginx embeds LuaJIT: the nginx specs load the C core built for it, and
# `make check` also runs the busted suite on LuaJIT (ALSO_IMPLS= skips that).
LUAJIT_INCDIR ?= /usr/include/luajit-2.1
ALSO_IMPLS    ?= $(filter-out $(LUA_IMPL),luajit)

luajit-core:
	@$(MAKE) --no-print-directory LUA_IMPL=luajit LUA=luajit LUA_INCDIR=$(LUAJIT_INCDIR) all

# What the suite needs beside the C core, for the main Lua and for LuaJIT.
TEST_SUPPORT := $(WIPE_LIBCURL) $(LUA_HEAP_WIPER)
test-support: $(TEST_SUPPORT)
ifneq ($(LUA_TARGET),luajit)
	@$(MAKE) --no-print-directory LUA_IMPL=luajit LUA=luajit LUA_INCDIR=$(LUAJIT_INCDIR) test-support
endif

# The whole suite: C unit tests, then busted (which starts the sandbox itself).
test: $(MODULE) $(REDIS_MODULE) $(C_TESTS) luajit-core test-support
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh spec/run.sh $(C_TESTS)

busted: $(MODULE) $(REDIS_MODULE) luajit-core test-support
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh spec/run.sh

memcheck: $(MODULE) $(REDIS_MODULE) luajit-core test-support
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) SP_MEMCHECK=1 sh spec/run.sh

# What CI runs: C unit tests, the fuzzing regressions and a short pass of
# every fuzz target (FUZZ_CHECK_SECONDS each), lint, busted, busted again
# under valgrind, busted on LuaJIT.
FUZZ_CHECK_SECONDS ?= 20
check: $(MODULE) $(REDIS_MODULE) $(C_TESTS) luajit-core test-support $(if $(HOST_CHECKS),$(HOST)) fuzz-build
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) SP_MEMCHECK=also SP_LINT=1 SP_ALSO_IMPLS="$(ALSO_IMPLS)" \
	  FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) FUZZ_TARGETS="$(FUZZ_BINS)" \
	  sh spec/run.sh $(C_TESTS) spec/fuzz/check.sh $(HOST_CHECKS)

# make check again and again with every CPU busy (stress-ng), stopping at
# the first failure: the proof that the suite does not flake under load
# (spec/tools/loaded_check.sh; docs/maintaining.md, Tests).
LOADED_RUNS ?= 3
check-loaded:
	sh spec/tools/loaded_check.sh $(LOADED_RUNS)

# Fuzzing (spec/fuzz/, see docs/security.md): libFuzzer targets built with
# clang and linked with a Lua 5.4 built from Debian's source package (fetched
# from deb.debian.org and checked against its checksum by
# spec/fuzz/fetch-lua.sh; .ci/setup fetches it) with ASan and
# LUA_USE_APICHECK. The C core is compiled again for them with ASan, UBSan
# and libFuzzer's coverage. Targets: spec/fuzz/fuzz_X.c (C harnesses) and
# spec/fuzz/targets/X.lua (Lua-level ones, through spec/fuzz/fuzz_lua.c).
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_BUILD    := build/fuzz
FUZZ_LUA_SRC  := $(FUZZ_BUILD)/lua-5.4.4/src
FUZZ_LUA_LIB  := $(FUZZ_BUILD)/liblua-asan.a
FUZZ_LUA_DEFS := -DLUA_USE_APICHECK -DLUA_USE_LINUX
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   := -std=gnu99 -g -O1 -fno-omit-frame-pointer $(WARN) $(FUZZ_LUA_DEFS) \
                 -Icsrc -I$(FUZZ_LUA_SRC) -I$(CURL_INCDIR)
FUZZ_CORE     := $(patsubst csrc/%.c,$(FUZZ_BUILD)/obj/%.o,$(PURE_SRC) $(CURL_SRC) $(LUA_SRC) \
                   $(REDIS_SRC) csrc/sp_resp_lua.c)
FUZZ_LIBS     := $(FUZZ_CORE) $(FUZZ_LUA_LIB) -L$(CURL_LIBDIR) $(CURL_LIBS) -lm -ldl
FUZZ_BINS     := $(patsubst spec/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard spec/fuzz/fuzz_*.c)) \
                 $(patsubst spec/fuzz/targets/%.lua,$(FUZZ_BUILD)/lua_%,$(wildcard spec/fuzz/targets/*.lua))
FUZZ_BINS     := $(filter-out $(FUZZ_BUILD)/fuzz_lua,$(FUZZ_BINS))

fuzz-lua: $(FUZZ_LUA_LIB)

$(FUZZ_LUA_LIB): spec/fuzz/fetch-lua.sh
	sh spec/fuzz/fetch-lua.sh $(FUZZ_BUILD)
	rm -rf $(FUZZ_BUILD)/lua-obj
	mkdir -p $(FUZZ_BUILD)/lua-obj
	for f in $(FUZZ_LUA_SRC)/*.c; do case $$f in */lua.c|*/luac.c) continue;; esac; \
	  $(FUZZ_CC) -std=gnu99 -g -O1 -fno-omit-frame-pointer $(FUZZ_LUA_DEFS) \
	    -fsanitize=address,fuzzer-no-link -c -o $(FUZZ_BUILD)/lua-obj/$$(basename $$f .c).o $$f || exit 1; done
	rm -f $@
	ar rcs $@ $(FUZZ_BUILD)/lua-obj/*.o

$(FUZZ_BUILD)/obj/%.o: csrc/%.c $(wildcard csrc/*.h) | $(FUZZ_LUA_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/harness.h $(FUZZ_CORE) $(FUZZ_LUA_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBS)

$(FUZZ_BUILD)/lua_%: spec/fuzz/targets/%.lua spec/fuzz/fuzz_lua.c spec/fuzz/harness.h $(FUZZ_CORE) $(FUZZ_LUA_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -DSP_FUZZ_TARGET='"$*"' -o $@ \
	  spec/fuzz/fuzz_lua.c $(FUZZ_LIBS)

$(FUZZ_BUILD)/regress: spec/fuzz/regress.c spec/fuzz/harness.h $(FUZZ_CORE) $(FUZZ_LUA_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -o $@ $< $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS) $(FUZZ_BUILD)/regress

fuzz: fuzz-build
	$(FUZZ_BUILD)/regress
	sh spec/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

sandbox:
	$(LUA) lua/sendpulse/sandbox/init.lua

# Benchmarks, run by hand, not by CI (figures and ratios, see bench/run.sh).
# Needs nginx beyond .ci/setup: bench/setup installs it.
BENCH_FLOOR := build/bench/floor
$(BENCH_FLOOR): bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu99 $(WARN) $(CFLAGS) -I$(CURL_INCDIR) -o $@ bench/floor.c -L$(CURL_LIBDIR) $(CURL_LIBS)

bench: $(MODULE) $(BENCH_FLOOR)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh bench/run.sh $(BENCHES)

# The pictures of docs/sandbox.md, from a fixed script (headless Chromium).
SCREENSHOT_DIR ?= docs/img
screenshots: $(MODULE)
	@mkdir -p $(SCREENSHOT_DIR)
	LUA_CPATH='$(BUILD)/?.so;;' $(LUA) spec/tools/sandbox_screenshots.lua $(SCREENSHOT_DIR)

quickstart: $(MODULE)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh examples/run-quickstart.sh

# The library: the C modules and every Lua file but the sandbox's, which is
# its own rock (rockspec/lua-sendpulse-sandbox-*.rockspec, install-sandbox).
LIB_LUA := find . -name '*.lua' -not -path './sendpulse/sandbox/*'
SANDBOX_LUA := find ./sendpulse/sandbox -name '*.lua'

install: $(MODULE) $(REDIS_MODULE)
	install -d $(DESTDIR)$(LIBDIR)/sendpulse $(DESTDIR)$(LUADIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(LIBDIR)/sendpulse/core.so
	$(if $(REDIS_MODULE),install -m 0755 $(REDIS_MODULE) $(DESTDIR)$(LIBDIR)/sendpulse/hiredis.so)
	cd lua && $(LIB_LUA) | while read f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done
	# the sendpulse command, run by the interpreter it was built for
	install -d $(DESTDIR)$(BINDIR)
	sed '1s|.*|#!/usr/bin/env $(LUA)|' bin/sendpulse > $(DESTDIR)$(BINDIR)/sendpulse
	chmod 0755 $(DESTDIR)$(BINDIR)/sendpulse

install-sandbox:
	install -d $(DESTDIR)$(LUADIR)
	cd lua && $(SANDBOX_LUA) | while read f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/sendpulse/core.so $(DESTDIR)$(LIBDIR)/sendpulse/hiredis.so
	rm -f $(DESTDIR)$(BINDIR)/sendpulse
	cd lua && find . -name '*.lua' | while read f; do rm -f "$(DESTDIR)$(LUADIR)/$$f"; done

# Running from a checkout: `eval "$(make env)"` builds (its output goes to
# stderr) and points LUA_PATH and LUA_CPATH at lua/ and the build.
env:
	@$(MAKE) --no-print-directory all >&2
	@echo "export LUA_PATH='$(abspath lua)/?.lua;$(abspath lua)/?/init.lua;;'"
	@echo "export LUA_CPATH='$(abspath $(BUILD))/?.so;;'"

# The release archive the versioned rockspecs name: the committed tree (HEAD)
# under lua-sendpulse-<version>/.
dist:
	@mkdir -p $(dir $(DIST))
	@git diff --quiet HEAD -- || echo "note: uncommitted changes are not in the archive (it is HEAD)" >&2
	git archive --format=tar.gz --prefix=$(DIST_NAME)/ -o $(DIST) HEAD
	@echo $(DIST)

ROCKSPECS := $(wildcard rockspec/*.rockspec)
lint:
	luacheck lua spec examples bench bin/sendpulse
	for r in $(ROCKSPECS); do luarocks lint $$r || exit 1; done

config:
	@echo "LUA_IMPL    = $(LUA_IMPL)"
	@echo "LUA         = $(LUA)"
	@echo "LUA_ABI     = $(LUA_ABI)"
	@echo "LUA_INCDIR  = $(LUA_INCDIR)"
	@echo "CURL_INCDIR = $(CURL_INCDIR)"
	@echo "CURL_LIBS   = $(CURL_LIBS)"
	@echo "HIREDIS_INCDIR = $(HIREDIS_INCDIR)"
	@echo "HIREDIS_LIBS   = $(HIREDIS_LIBS)"
	@echo "CC          = $(CC)"
	@echo "CFLAGS      = $(SP_CFLAGS)"
	@echo "LIBFLAG     = $(LIBFLAG)"
	@echo "PREFIX      = $(PREFIX)"
	@echo "LIBDIR      = $(LIBDIR)"
	@echo "LUADIR      = $(LUADIR)"
	@echo "BINDIR      = $(BINDIR)"
	@echo "LUA_TARGET  = $(LUA_TARGET)"
	@echo "BUILD       = $(BUILD)"
	@echo "MODULE      = $(MODULE)"
	@echo "REDIS_MODULE = $(or $(REDIS_MODULE),(not built: no hiredis/hiredis.h))"
	@echo "STATIC      = $(STATIC)"
	@echo "VERSION     = $(VERSION)"
	@echo "DIST        = $(DIST)"

clean:
	rm -rf build
