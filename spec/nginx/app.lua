-- The application nginx runs for spec/nginx_spec.lua (see nginx.conf here).
-- It only drives the client and reports what happened as JSON; every
-- assertion is in the spec, on the test side.
--
-- POST /call with a JSON body:
--   { client = { options of sendpulse.new, plus hook = true to collect the
--                hook's events, close_in_hook = true to close the client
--                from the hook },
--     method =, path =, opts = (client:request's), times = n (default 1),
--     pause = seconds between those calls (ngx.sleep),
--     jam_rate_lock = true (see run),
--     helper = { service =, name =, args = } (a generated method instead) }
-- answers { pid =, phase =, results = [{ value =, meta =, err = }],
--           connections =, elapsed =, events =, token_expires_in = }.
local cjson = require "cjson.safe"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"

local ngx = ngx  -- luacheck: read globals ngx
local pairs, type, tostring = pairs, type, tostring

local _M = {}

-- An error object as plain JSON-able fields.
local function plain_error(err)
  if type(err) ~= "table" then return { raised = tostring(err) } end
  local t = {}
  for _, k in pairs { "kind", "code", "name", "status", "message", "method", "path",
                      "retryable", "retry_after", "maybe_sent", "attempts", "tls", "window",
                      "stage", "rule" } do
    t[k] = err[k]
  end
  t.text = tostring(err)
  return t
end

local function new_client(spec, events)
  local opts = {}
  for k, v in pairs(spec or {}) do opts[k] = v end
  -- close_in_hook: the hook closes the client at its first event.
  local close_in_hook, client = opts.close_in_hook, nil
  opts.close_in_hook = nil
  if opts.hook or close_in_hook then
    opts.hook = function(e)
      events[#events + 1] = e
      if close_in_hook and client then client:close() end
    end
  end
  local err
  client, err = safe.new(opts)
  return client, err
end

-- Runs the calls described by `req`; returns the report table.
local function run(req)
  local events = {}
  local report = { pid = ngx.worker.pid(), phase = ngx.get_phase(), results = {}, events = events }
  local client, err = new_client(req.client, events)
  if not client then
    report.new_error = plain_error(err)
    return report
  end
  -- jam_rate_lock: the budget's dict lock is taken and never freed, as if
  -- a worker had died holding it without its expiry.
  local jammed = req.jam_rate_lock and client.limiter and client.limiter.limiter.lock_key
  if jammed then ngx.shared.sendpulse:set(jammed, true) end
  local started = core.monotonic()
  for i = 1, req.times or 1 do
    -- (a safe client: value, nil, meta or nil, err; a raising one: value,
    -- meta, or raised)
    local ok, value, second, third
    if req.helper then
      -- A generated service method: { service =, name =, args = }.
      local service = client[req.helper.service]
      ok, value, second, third = pcall(service[req.helper.name], service, req.helper.args)
    else
      ok, value, second, third = pcall(client.request, client, req.method or "GET",
        req.path or "/addressbooks", req.opts)
    end
    local r = {}
    if not ok then
      r.err = plain_error(value)
    elseif value ~= nil then
      r.value = value
      local meta = second == nil and third or second
      if type(meta) == "table" then
        r.meta = { status = meta.status, attempts = meta.attempts }
      end
    else
      r.err = plain_error(second)
    end
    report.results[i] = r
    if req.pause and i < (req.times or 1) then ngx.sleep(req.pause) end
  end
  report.elapsed = core.monotonic() - started
  if jammed then ngx.shared.sendpulse:delete(jammed) end
  report.connections = client:connections()
  local left = client:token_expires_in()   -- (math.huge for an API key: not JSON)
  if left and left < math.huge then report.token_expires_in = left end
  client:close()
  return report
end

local function read_json_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then return {} end
  return cjson.decode(body) or {}
end

-- With a Content-Length: the test side's reader wants one.
local function send_json(text)
  ngx.header.content_type = "application/json"
  ngx.header.content_length = #text
  ngx.print(text)
end

local function reply(report)
  send_json(cjson.encode(report))
  return ngx.exit(200)
end

function _M.call()
  return reply(run(read_json_body()))
end

-- The same call from a timer (phase "timer"); the result goes to the
-- results dict under the key given in the query.
function _M.call_in_timer()
  local req = read_json_body()
  local key = ngx.var.arg_key or "timer"
  local ok, err = ngx.timer.at(0, function(premature)
    if premature then return end
    ngx.shared.results:set(key, cjson.encode(run(req)))
  end)
  return reply { started = ok and true or false, err = err }
end

-- POST /transport_contract { base = the hostile server's URL }: the
-- cosocket transport, made as a client makes it, through the steps of
-- spec/support/transport_contract.lua; answers their report
-- (spec/transport_contract_spec.lua asserts on it as on every transport).
function _M.transport_contract()
  local req = read_json_body()
  local options = require "sendpulse.client.options"
  local transport = require "sendpulse.transport"
  local contract = require "support.transport_contract"
  local cfg = assert(options.check { api_key = "contract-key", base_url = req.base, transport = "cosocket",
                                     allow_plain_http = true })
  local t, why = transport.new(cfg, false)
  local report = { why = why }
  if t then
    report.checked = transport.check(t) == true
    report.name = tostring(t)
    report.calls = contract.calls(t, req.base, core.monotonic)
    report.close = contract.close(t, req.base)
  end
  return reply(report)
end

-- POST /arm?key=K&value=V[&dict=D]: sets a key in the results dict (or
-- lua_shared_dict D); K and V are percent-decoded.
function _M.arm()
  local dict = ngx.shared[ngx.var.arg_dict or "results"]
  dict:set(ngx.unescape_uri(ngx.var.arg_key), ngx.unescape_uri(ngx.var.arg_value))
  return reply { armed = true }
end

-- GET /result?key=K -> what a timer or a phase stored (404 until then).
function _M.result()
  local v = ngx.shared.results:get(ngx.var.arg_key or "")
  if not v then return ngx.exit(404) end
  send_json(v)
end

-- A client made in init_worker, used here in content: legitimate.
local prebuilt
function _M.call_prebuilt()
  local req = read_json_body()
  local report = { pid = ngx.worker.pid(), results = {} }
  local value, err = prebuilt:request(req.method or "GET", req.path or "/addressbooks", req.opts)
  report.results[1] = value ~= nil and { value = value } or { err = plain_error(err) }
  return reply(report)
end

-- One call from a phase without cosockets, to a port nothing listens on:
-- only the phase check can make it fail as an "argument" error.
function _M.phase_call(phase)
  local client, err = safe.new { api_key = "phase-key", base_url = "http://127.0.0.1:1", retries = 0 }
  local value
  if client then
    local ok, v, e = pcall(client.request, client, "GET", "/addressbooks")
    if ok then value, err = v, e else err = v end
  end
  return cjson.encode { phase = phase, got_phase = ngx.get_phase(), value = value,
                        err = err and plain_error(err) }
end

local function record(key, text)
  local dict = ngx.shared.results
  if dict then dict:set(key, text) end
end

function _M.in_init()
  record("phase:init", _M.phase_call("init"))
end

function _M.in_init_worker(sandbox_url)
  record("phase:init_worker", _M.phase_call("init_worker"))
  -- Kept for /call/prebuilt; nothing is sent from here.
  prebuilt = safe.new { client_id = "prebuilt", client_secret = "sandbox-secret",
                        base_url = sandbox_url, shared_dict = "sendpulse" }
end

-- A real call during a TLS handshake, once the test has asked for it by
-- setting "ssl_cert:key" (an API key the sandbox knows).
function _M.in_ssl_cert(sandbox_url)
  local results = ngx.shared.results
  local key = results:get("ssl_cert:key")
  if not key then return end
  results:delete("ssl_cert:key")
  local report = run { client = { api_key = key, base_url = sandbox_url, retries = 0 }, path = "/addressbooks" }
  results:set("phase:ssl_cert", cjson.encode(report))
end

function _M.in_header_filter()
  record("phase:header_filter", _M.phase_call("header_filter"))
end

function _M.in_body_filter()
  if ngx.arg[2] then record("phase:body_filter", _M.phase_call("body_filter")) end
end

function _M.in_log()
  record("phase:log", _M.phase_call("log"))
end

function _M.in_balancer(port)
  record("phase:balancer", _M.phase_call("balancer"))
  local balancer = require "ngx.balancer"
  assert(balancer.set_current_peer("127.0.0.1", port))
end

-- /fake/*: answers the cosocket transport must read right.
function _M.fake()
  local uri = ngx.var.uri
  if uri == "/fake/chunked" then
    -- Flushed pieces: nginx sends them with chunked transfer encoding.
    ngx.header.content_type = "application/json"
    ngx.print('{"parts":[')
    ngx.flush(true)
    for i = 1, 50 do
      ngx.print(i > 1 and "," or "", '"', ("x"):rep(i * 10), '"')
      ngx.flush(true)
    end
    ngx.print("]}")
    return
  elseif uri == "/fake/nolength" then
    ngx.header.content_type = "application/json"
    ngx.print('{"until":')
    ngx.flush(true)
    ngx.print('"closed"}')
    return
  elseif uri == "/fake/echo" then
    ngx.req.read_body()
    ngx.header.content_type = "application/json"
    ngx.print(cjson.encode { method = ngx.req.get_method(), body = ngx.req.get_body_data(),
      headers = ngx.req.get_headers(), uri = ngx.var.request_uri })
    return
  elseif uri == "/fake/gzip" then
    ngx.header.content_type = "application/json"
    ngx.header.content_encoding = "gzip"
    ngx.print("\31\139 not really gzip")
    return
  end
  ngx.status = 404
  ngx.header.content_type = "application/json"
  ngx.print('{"error_code":404,"message":"no such fake"}')
end

return _M
