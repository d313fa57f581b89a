-- luarocks make --deps-mode=none rockspec/lua-sendpulse-scm-1.rockspec
-- The Makefile is the build: luarocks passes its own paths and flags through.
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
    error codes.
  ]],
  license = "MIT",
  homepage = "https://github.com/lua-sendpulse/lua-sendpulse",
  labels = { "sendpulse", "email", "http", "api" },
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
  -- the sendpulse command (Debian: lua-argparse) and its CSV parser (lua-lpeg)
  "argparse",
  "lpeg",
}
external_dependencies = {
  -- Only the library is looked up: on Debian-style multiarch systems the
  -- header sits in /usr/include/<triplet>/curl, which the compiler searches
  -- by itself but luarocks does not.
  CURL = { library = "curl" },
  -- sendpulse.hiredis (Redis for the shared token and budget).
  HIREDIS = { library = "hiredis" },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    HIREDIS_INCDIR = "$(HIREDIS_INCDIR)",
  },
  install_target = "install",
  install_variables = {
    LIBDIR = "$(LIBDIR)",
    LUADIR = "$(LUADIR)",
    -- the sendpulse command (luarocks wraps what lands in its bin folder)
    BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
  },
}
