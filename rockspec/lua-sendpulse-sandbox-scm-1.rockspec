-- luarocks make rockspec/lua-sendpulse-sandbox-scm-1.rockspec    (from a checkout)
-- The local SendPulse-compatible server of lua-sendpulse, for your own tests:
--   local server = require("sendpulse.sandbox").new { port = 0 }
--   local host, port = server:start()
-- (lua/sendpulse/sandbox/README.md). Pure Lua; its release rockspec beside this
-- one is generated (spec/tools/gen_rockspecs.lua).
rockspec_format = "3.0"
package = "lua-sendpulse-sandbox"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-sendpulse/lua-sendpulse.git",
}
description = {
  summary = "A local SendPulse-compatible API server for tests (lua-sendpulse's sandbox)",
  detailed = [[
    Mailing lists, campaigns, templates, senders, the blacklist, SMTP, SMS
    and push with state; every other operation of SendPulse's OpenAPI files
    answers its example. OAuth tokens, the 10 requests per second limit,
    scripted faults and a movable clock, over plain HTTP on loopback.
  ]],
  license = "MIT",
  homepage = "https://github.com/lua-sendpulse/lua-sendpulse",
  labels = { "sendpulse", "testing", "mock", "server" },
}
dependencies = {
  "lua >= 5.1",
  "lua-sendpulse",   -- the operation data (sendpulse.api) the examples answer
  "luasocket",
  "lua-cjson",
}
build = {
  type = "make",
  build_pass = false,
  install_target = "install-sandbox",
  install_variables = {
    LUADIR = "$(LUADIR)",
  },
}
