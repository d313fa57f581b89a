-- luarocks make rockspec/lua-sendpulse-scm-1.rockspec    (from a checkout; see docs/install.md)
-- The Makefile is the build: luarocks passes its paths and flags through, and
-- the headers in LUA_INCDIR decide which Lua the C core is built for.
-- The release rockspecs beside this one are generated from it
-- (spec/tools/gen_rockspecs.lua); the sandbox is its own rock
-- (lua-sendpulse-sandbox).
rockspec_format = "3.0"
package = "lua-sendpulse"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-sendpulse/lua-sendpulse.git",
}
description = {
  summary = "SendPulse REST API client with a C core (libcurl, OAuth token cache, rate limiter)",
  detailed = [[
    Calls every SendPulse REST API operation from Lua: one keep-alive
    connection per client, a cached OAuth token refreshed before it
    expires, the 10 requests per second budget kept per account, retries
    that never replay a POST blindly, and error objects with SendPulse's
    error codes. sendpulse.hiredis (Redis for a token and budget shared by
    several hosts) is built when libhiredis's header is found.
  ]],
  license = "MIT",
  homepage = "https://github.com/lua-sendpulse/lua-sendpulse",
  labels = { "sendpulse", "email", "http", "api" },
}
-- What the library and its command load (JSON and Redis are in C; no lua-cjson).
dependencies = {
  "lua >= 5.1",
  -- email:import and email:export read CSV with LPeg (loaded with the
  -- operations); the sendpulse command parses its words with argparse
  "lpeg",
  "argparse",
}
external_dependencies = {
  -- Only the library is looked up: on Debian-style multiarch systems the
  -- header sits in /usr/include/<triplet>/curl, which the compiler searches
  -- by itself but luarocks does not.
  CURL = { library = "curl" },
}
build = {
  type = "make",
  build_target = "all",
  install_target = "install",
  -- the same settings for both passes, so installing does not rebuild
  variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    LIBDIR = "$(LIBDIR)",
    LUADIR = "$(LUADIR)",
    -- the sendpulse command (luarocks wraps what lands in its bin folder)
    BINDIR = "$(BINDIR)",
    -- luarocks' builds apart from the one `make` makes for the suite
    BUILD_ROOT = "build/luarocks",
  },
}
