# lua-sendpulse build.
#
#   make                      build the C core for Lua 5.4 (build/lua5.4/sendpulse/core.so)
#   make LUA_IMPL=luajit      the same sources for LuaJIT 2.1 (also lua5.3, lua5.1)
#   make test                 C unit tests + the busted suite against the local sandbox
#   make memcheck             the busted suite under valgrind (no error, no leak)
#   make check                test + memcheck, one closing count (what CI runs)
#   make bench                the benchmarks (by hand; bench/setup installs nginx)
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#   make config               print the resolved settings
#
# Every path is overridable (`?=`), so luarocks and distro packagers can pass
# their own LUA_INCDIR, CURL_INCDIR, LIBDIR, LUADIR, CFLAGS and LIBFLAG.

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
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
LIBFLAG ?= -shared
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
           -Wpointer-arith -Wcast-qual -Wformat=2 -Wundef -Wvla
SP_CFLAGS := -std=gnu99 -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
             -I$(LUA_INCDIR) -I$(CURL_INCDIR) -Icsrc

BUILD   := build/$(LUA_IMPL)
MODULE  := $(BUILD)/sendpulse/core.so

# Lua-free parts: no lua.h, unit-tested in C on their own.
PURE_SRC := csrc/sp_buf.c csrc/sp_clock.c csrc/sp_limiter.c csrc/sp_encode.c
# Parts that speak the Lua C API.
LUA_SRC  := csrc/sp_core.c csrc/sp_http.c csrc/sp_auth.c csrc/sp_rate.c \
            csrc/sp_json.c csrc/sp_json_decode.c csrc/sp_lencode.c
OBJS     := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(PURE_SRC) $(LUA_SRC))
DEPS     := $(OBJS:.o=.d)

C_TESTS  := $(patsubst spec/c/%.c,build/ctest/%,$(wildcard spec/c/test_*.c))

.PHONY: all test check ctest busted memcheck asan install uninstall config clean lint \
        sandbox quickstart bench

all: $(MODULE)

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $(OBJS) -L$(CURL_LIBDIR) $(CURL_LIBS) -lm $(LDFLAGS)

$(BUILD)/obj/%.o: csrc/%.c
	@mkdir -p $(dir $@)
	$(CC) $(SP_CFLAGS) -MMD -MP -c -o $@ $<

-include $(DEPS)

# C unit tests for the Lua-free parts: built with the sanitizers on.
CTEST_FLAGS := -std=gnu99 -g -O1 $(WARN) -Icsrc -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -pthread
build/ctest/%: spec/c/%.c $(PURE_SRC) spec/c/ctest.h $(wildcard csrc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CTEST_FLAGS) -o $@ $< $(PURE_SRC) -lm

ctest: $(C_TESTS)
	@for t in $(C_TESTS); do $$t || exit 1; done

# The whole suite: C unit tests, then busted (which starts the sandbox itself).
test: $(MODULE) $(C_TESTS)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh spec/run.sh $(C_TESTS)

busted: $(MODULE)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh spec/run.sh

memcheck: $(MODULE)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) SP_MEMCHECK=1 sh spec/run.sh

# What CI runs: C unit tests, busted, busted again under valgrind.
check: $(MODULE) $(C_TESTS)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) SP_MEMCHECK=also SP_LINT=1 sh spec/run.sh $(C_TESTS)

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

quickstart: $(MODULE)
	LUA_IMPL=$(LUA_IMPL) LUA=$(LUA) sh examples/run-quickstart.sh

install: $(MODULE)
	install -d $(DESTDIR)$(LIBDIR)/sendpulse $(DESTDIR)$(LUADIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(LIBDIR)/sendpulse/core.so
	cd lua && find . -name '*.lua' | while read f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/sendpulse/core.so
	cd lua && find . -name '*.lua' | while read f; do rm -f "$(DESTDIR)$(LUADIR)/$$f"; done

lint:
	luacheck lua spec examples bench
	luarocks lint rockspec/lua-sendpulse-scm-1.rockspec

config:
	@echo "LUA_IMPL    = $(LUA_IMPL)"
	@echo "LUA         = $(LUA)"
	@echo "LUA_ABI     = $(LUA_ABI)"
	@echo "LUA_INCDIR  = $(LUA_INCDIR)"
	@echo "CURL_INCDIR = $(CURL_INCDIR)"
	@echo "CURL_LIBS   = $(CURL_LIBS)"
	@echo "CC          = $(CC)"
	@echo "CFLAGS      = $(SP_CFLAGS)"
	@echo "LIBFLAG     = $(LIBFLAG)"
	@echo "PREFIX      = $(PREFIX)"
	@echo "LIBDIR      = $(LIBDIR)"
	@echo "LUADIR      = $(LUADIR)"
	@echo "MODULE      = $(MODULE)"

clean:
	rm -rf build
