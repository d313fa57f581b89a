-- The sandbox's webhook outbox: events wait in a queue per receiving URL
-- (and family), and go out as one POST of a JSON array when the queue is
-- flush_count long or its oldest event is flush_interval seconds old, as
-- SendPulse batches them. A batch answered with anything but 2xx (or not
-- answered) is sent again after retry_delay seconds, doubling, at most
-- max_attempts times in all; every attempt is recorded in `deliveries`.
--
-- The outbox lives in the sandbox's state, so /_sandbox/reset empties it;
-- one task of the server's loop (started with the first event) looks for
-- due queues every TICK seconds.
local json = require "sendpulse.sandbox.json"
local post = require "sendpulse.sandbox.webhooks.post"

local type, pairs, ipairs, setmetatable, tostring, floor = type, pairs, ipairs, setmetatable, tostring, math.floor
local remove, sort = table.remove, table.sort
local gettime = require("socket").gettime

local _M = {}

_M.TICK = 0.05
_M.DEFAULTS = { flush_interval = 2, flush_count = 100, retry_delay = 1, max_attempts = 5, timeout = 5 }
_M.MAX_DELIVERIES = 10000   -- the log keeps the latest ones
-- The batches sent, with their payloads, for the pages (/_sandbox/ui/webhooks)
-- and their resend button: the latest MAX_BATCHES, payloads over
-- MAX_PAYLOAD bytes kept cut (and not resent).
_M.MAX_BATCHES = 1000
_M.MAX_PAYLOAD = 64 * 1024

local Outbox = {}
Outbox.__index = Outbox

local function new()
  local cfg = {}
  for k, v in pairs(_M.DEFAULTS) do cfg[k] = v end
  return setmetatable({ config = cfg, queues = {}, order = {}, deliveries = {}, next_batch = 0,
                        in_flight = 0, batches = {}, first_batch = 1 }, Outbox)
end

-- The outbox of the server's current state (created on first use), with
-- the server's flushing task running.
function _M.of(server)
  local state = server.state
  if not state.webhook_outbox then state.webhook_outbox = new() end
  if not server.webhook_flusher then
    server.webhook_flusher = true
    server.loop:spawn(function()
      while true do
        server.loop:sleep(_M.TICK)
        local outbox = server.state.webhook_outbox
        if outbox then outbox:flush_due(server.loop, gettime()) end
      end
    end)
  end
  return state.webhook_outbox
end

-- Checks and applies any subset of the settings. true, or nil and a message.
function Outbox:configure(t)
  if type(t) ~= "table" then return nil, "the body must be a JSON object" end
  for k, v in pairs(t) do
    local default = _M.DEFAULTS[k]
    if default == nil then return nil, "unknown setting " .. tostring(k) end
    if type(v) ~= "number" or v <= 0 or v ~= v or v == math.huge then
      return nil, k .. " must be a number > 0"
    end
    if (k == "flush_count" or k == "max_attempts") and v ~= floor(v) then
      return nil, k .. " must be a whole number"
    end
  end
  for k, v in pairs(t) do self.config[k] = v end
  return true
end

-- Queues `event` for `url`; a full queue is sent at once.
function Outbox:add(loop, url, family, event, now)
  local key = family .. " " .. url
  local q = self.queues[key]
  if not q then
    q = { url = url, family = family, events = {} }
    self.queues[key] = q
    self.order[#self.order + 1] = key
  end
  if #q.events == 0 then q.since = now end
  q.events[#q.events + 1] = event
  if #q.events >= self.config.flush_count then self:send(loop, q) end
end

-- Sends the queues that are due (or every queue when `all`).
function Outbox:flush_due(loop, now, all)
  local sent = 0
  for _, key in ipairs(self.order) do
    local q = self.queues[key]
    while #q.events > 0 and (all or #q.events >= self.config.flush_count
                             or now - q.since >= self.config.flush_interval) do
      self:send(loop, q)
      sent = sent + 1
    end
  end
  return sent
end

-- Where a delivery went, without the URL's path or query (the receiver's
-- secret lives there and must not show in the log).
local function target(url)
  return url:match("^%a+://([^/?#]+)") or "?"
end
_M.target = target

-- Takes up to flush_count events off the queue and delivers them as one
-- batch in a task of its own.
function Outbox:send(loop, q)
  local cfg = self.config
  local batch = json.array()
  while #batch < cfg.flush_count and #q.events > 0 do batch[#batch + 1] = remove(q.events, 1) end
  if #q.events > 0 then q.since = gettime() end
  self:deliver(loop, q, json.encode(batch), #batch)
end

-- The batch `id` as kept for the pages: {id, url, family, events, payload,
-- size, t, resent_from?}, or nil when it went past MAX_BATCHES.
function Outbox:batch(id)
  return self.batches[id]
end

-- Sends batch `id` again, as a new batch (with its own attempts). Returns
-- the new batch's id, or nil and why.
function Outbox:resend(loop, id)
  local b = self.batches[id]
  if not b then return nil, "batch " .. tostring(id) .. " is no longer kept" end
  if b.size > #b.payload then return nil, "batch " .. tostring(id) .. " was too large to keep whole" end
  return self:deliver(loop, { url = b.url, family = b.family }, b.payload, b.events, id)
end

-- Delivers `body` (`n` events) to q.url as batch next_batch, retried.
function Outbox:deliver(loop, q, body, n, resent_from)
  local cfg = self.config
  self.next_batch = self.next_batch + 1
  local id = self.next_batch
  self.batches[id] = { id = id, url = q.url, family = q.family, events = n, size = #body,
                       payload = #body > _M.MAX_PAYLOAD and body:sub(1, _M.MAX_PAYLOAD) or body,
                       t = gettime(), resent_from = resent_from }
  while id - self.first_batch >= _M.MAX_BATCHES do
    self.batches[self.first_batch] = nil
    self.first_batch = self.first_batch + 1
  end
  self.in_flight = self.in_flight + 1
  loop:spawn(function()
    local delay = cfg.retry_delay
    for attempt = 1, cfg.max_attempts do
      local status, err = post(loop, q.url, body, cfg.timeout)
      local ok = status and status >= 200 and status < 300
      local d = self.deliveries
      d[#d + 1] = { batch = id, attempt = attempt, target = target(q.url), family = q.family,
                    events = n, status = status or 0, error = err, t = gettime(),
                    outcome = ok and "delivered" or (attempt == cfg.max_attempts and "dropped" or "retry") }
      if #d > _M.MAX_DELIVERIES then remove(d, 1) end
      if ok or attempt == cfg.max_attempts then break end
      loop:sleep(delay)
      delay = delay * 2
    end
    self.in_flight = self.in_flight - 1
  end)
  return id
end

-- What GET /_sandbox/webhooks shows.
function Outbox:summary()
  local queued = {}
  for _, key in ipairs(self.order) do
    local q = self.queues[key]
    if #q.events > 0 then
      queued[#queued + 1] = { target = target(q.url), family = q.family, events = #q.events }
    end
  end
  sort(queued, function(a, b) return a.target .. a.family < b.target .. b.family end)
  local deliveries = json.array()
  for i, d in ipairs(self.deliveries) do deliveries[i] = d end
  return { config = self.config, queued = json.array(queued), in_flight = self.in_flight,
           deliveries = deliveries }
end

return _M
