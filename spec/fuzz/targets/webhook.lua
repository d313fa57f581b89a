-- The webhook body parser (sendpulse.webhooks.parse) on what anyone who can
-- reach the endpoint may POST: any bytes, with limits and a
-- Content-Encoding picked by the first two bytes. It never raises, and
-- returns a list of event tables or nil and a "decode" error object whose
-- rule is one of those documented in parse.lua. (Added to show how a
-- Lua-level target is added: this file and spec/fuzz/corpus/webhook/.)
local parse = require "sendpulse.webhooks.parse"
local errors = require "sendpulse.errors"

local RULES = { size = true, encoding = true, json = true, array = true, object = true, count = true }
local ENCODINGS = { false, "identity", "gzip", "IDENTITY" }

return function(data)
  if #data < 2 then return end
  local b1, b2 = data:byte(1, 2)
  local limits = { max_body = b1 * 64 + 1, max_events = b1 % 16 + 1 }
  local encoding = ENCODINGS[b2 % 4 + 1]
  local headers = encoding and { ["content-encoding"] = encoding } or nil
  local events, err = parse.parse(data:sub(3), headers, limits)
  if events ~= nil then
    if type(events) ~= "table" or err ~= nil or #events > limits.max_events then
      error("parse gave something other than a list of events", 0)
    end
    for i = 1, #events do
      if type(events[i]) ~= "table" then error("event " .. i .. " is not a table", 0) end
    end
    return
  end
  if not errors.is_error(err) or err.kind ~= "decode" or not RULES[err.rule] then
    error("parse failed without a documented error: " .. tostring(err and err.rule or err), 0)
  end
end
