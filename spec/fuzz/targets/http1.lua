-- The cosocket transport's answer parser (sendpulse.transport.http1), fed
-- the input as a server's bytes: the first byte picks the method and a
-- small body bound, the next ones where the stream is cut into reads.
-- Whatever comes, the parser never raises, answers only "more", "done" or
-- nil + one of its three kinds, keeps the body within its bound, and ends
-- (close) in a final state.
local http1 = require "sendpulse.transport.http1"

local KINDS = { protocol = true, too_large = true, network = true }
local METHODS = { "GET", "POST", "HEAD", "DELETE" }

local function check(state, kind, message)
  if state == "more" or state == "done" then return state end
  if state ~= nil or not KINDS[kind] or type(message) ~= "string" then
    error(("bad result: %s %s %s"):format(tostring(state), tostring(kind), tostring(message)), 0)
  end
  return nil
end

return function(data)
  if #data < 2 then return end
  local b1, b2 = data:byte(1, 2)
  local max_body = (b1 >> 2) * 97 + 1
  local p = http1.parser { method = METHODS[b1 % 4 + 1], max_body = max_body }
  local step = b2 % 17 + 1
  local stream = data:sub(3)
  local state = "more"
  local at = 1
  while at <= #stream and state == "more" do
    state = check(p:feed(stream:sub(at, at + step - 1)))
    at = at + step
  end
  if state == "more" then state = check(p:close()) end
  if p.received > max_body or #p:body() > max_body then error("the body passed its bound", 0) end
  if state == "done" then
    if type(p.status) ~= "number" or p.status < 200 or p.status > 999 then error("done without a status", 0) end
    if type(p.headers) ~= "table" then error("done without headers", 0) end
    if p.extra and p.keep_alive then error("bytes after the answer, and yet keep-alive", 0) end
  elseif p.state ~= "failed" then
    error("neither done nor failed after close: " .. tostring(p.state), 0)
  end
end
