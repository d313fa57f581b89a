-- The sandbox's pages, under /_sandbox/ui/: what your code sent, in a
-- browser (docs/sandbox.md, "The inbox in a browser"). Server-rendered HTML
-- that reads without JavaScript; one small script for live updates.
--
--   messages.lua  the inbox: the list, one message, its HTML, attachments
--   lists.lua     mailing lists and contacts; campaigns and the 711/791 clock
--   webhooks.lua  deliveries, payloads, attempts; resend
--   requests.lua  the request log
--   control.lua   reset, clock, faults (the control API's effects)
--   live.lua      Server-Sent Events for the live list
--   static.lua    app.js and app.css
--   html.lua      escaping, layout, headers;  guard.lua  who may call what
--   check.lua     the HTML check;  source.lua  a request's JSON, secrets hidden
--
-- Registered like a service (routes/*.lua), as control routes (no auth, no
-- faults, not in the request log) whose handlers return whole answers
-- (`raw`). Every POST needs the sandbox's token besides what guard.lua asks
-- of every /_sandbox/ call.
local html = require "sendpulse.sandbox.ui.html"
local guard = require "sendpulse.sandbox.ui.guard"
local reply = require "sendpulse.sandbox.reply"
local messages = require "sendpulse.sandbox.ui.messages"
local lists = require "sendpulse.sandbox.ui.lists"
local webhooks = require "sendpulse.sandbox.ui.webhooks"
local requests = require "sendpulse.sandbox.ui.requests"
local control = require "sendpulse.sandbox.ui.control"
local live = require "sendpulse.sandbox.ui.live"
local static = require "sendpulse.sandbox.ui.static"

local _M = {}

local BASE = html.BASE

-- A state-changing page call: only with the sandbox's token.
local function with_token(handler)
  return function(ctx)
    local params = reply.try_params(ctx.req) or {}
    if not guard.token_ok(ctx.server.ui_token, params.token) then
      return html.page("Refused", "control", '<p role="alert">This form needs the token the sandbox printed at '
        .. 'start (the sandbox\'s own pages carry it). Reload the page and try again.</p>', { status = 403 })
    end
    return handler(ctx)
  end
end

function _M.register(router)
  local function get(path, handler)
    router:add { method = "GET", path = BASE .. path, handler = handler, control = true, raw = true }
  end
  local function post(path, handler)
    router:add { method = "POST", path = BASE .. path, handler = with_token(handler), control = true, raw = true }
  end
  get("", messages.list)
  get("/messages", messages.list)
  get("/messages/{id}", messages.show)
  get("/messages/{id}/html", messages.mail_html)
  get("/messages/{id}/attachments/{n}", messages.attachment)
  get("/lists", lists.lists)
  get("/lists/{id}", lists.list)
  get("/campaigns", lists.campaigns)
  get("/webhooks", webhooks.page)
  post("/webhooks/{id}/resend", webhooks.resend)
  get("/requests", requests.page)
  get("/control", control.page)
  post("/control/reset", control.reset)
  post("/control/clock", control.clock)
  post("/control/faults", control.add_fault)
  post("/control/faults/clear", control.clear_faults)
  get("/events", live.events)
  get("/static/app.js", static.js)
  get("/static/app.css", static.css)
end

return _M
