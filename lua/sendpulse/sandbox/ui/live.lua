-- Live updates of the message list: GET /_sandbox/ui/events is a stream of
-- Server-Sent Events. The stream looks at the inbox every POLL seconds and
-- sends `event: messages` (id and data: the inbox's version) when it
-- changed; the list's script (app.js) then fetches the new rows.
-- "Changed" is measured from the version the page last showed, not from
-- the moment the stream opened: a message sent between the page's render
-- and the stream's start, or while the browser reconnects, would else
-- never show. The page passes the version it was rendered at (?since=N);
-- a reconnecting EventSource sends the last event's id (Last-Event-ID),
-- which wins. A value that is not a plain version is ignored (the stream
-- then counts from now, as a page without the script would). A comment every
-- KEEPALIVE seconds notices a browser that went away; a stream ends after
-- MAX_SECONDS (the browser's EventSource connects again, after `retry`).
-- A browser that closed the stream (a page left) is noticed at the next
-- look, so streams of pages gone do not count against MAX_STREAMS.
-- At most MAX_STREAMS at once (each is a connection); past it, a 503, and
-- the browser tries again later.
local html = require "sendpulse.sandbox.ui.html"

local gettime = require("socket").gettime

local _M = {}

_M.POLL = 0.5
_M.KEEPALIVE = 15
_M.MAX_SECONDS = 300
_M.MAX_STREAMS = 32
_M.RETRY_MS = 2000

-- The version a page has shown: digits only, at most 15 (an integer a
-- double holds exactly); anything else is no version.
local function shown_version(ctx)
  local v = ctx.req.headers["last-event-id"] or ctx.query.since
  if type(v) == "string" and v:match("^%d+$") and #v <= 15 then return tonumber(v) end
  return nil
end

function _M.events(ctx)
  local server = ctx.server
  server.ui_streams = server.ui_streams or 0
  if server.ui_streams >= _M.MAX_STREAMS then
    return html.answer(503, "too many live pages open", "text/plain; charset=utf-8", nil,
      { { "Retry-After", "5" } })
  end
  local headers = html.headers("text/event-stream", html.PAGE_CSP)
  return { status = 200, headers = headers, stream = function(send, loop, gone)
    server.ui_streams = server.ui_streams + 1
    local seen = shown_version(ctx) or server.inbox.version
    local started, quiet = gettime(), 0
    local ok = send("retry: " .. _M.RETRY_MS .. "\n\n")
    while ok and gettime() - started < _M.MAX_SECONDS do
      loop:sleep(_M.POLL)
      local v = server.inbox.version
      if gone() then
        ok = false
      elseif v ~= seen then
        seen = v
        ok = send("id: " .. v .. "\nevent: messages\ndata: " .. v .. "\n\n")
        quiet = 0
      else
        quiet = quiet + _M.POLL
        if quiet >= _M.KEEPALIVE then
          ok = send(": keep-alive\n\n")
          quiet = 0
        end
      end
    end
    server.ui_streams = server.ui_streams - 1
  end }
end

return _M
