-- The transport contract as steps any transport object can be put through,
-- in busted or inside an nginx worker (spec/nginx/app.lua): each step calls
-- t:perform as the pipeline does and reports what came back as plain,
-- JSON-able values; spec/transport_contract_spec.lua asserts the same of
-- every transport. The server is spec/support/hostile_server.lua at `base`.
--
--   calls(t, base, monotonic) -> { plain =, error_answer =, timeout =, after_timeout = }
--   close(t, base)            -> { again =, perform_raised =, message = }

local _M = {}

-- The timeout the timeout step gives, seconds.
_M.TIMEOUT = 0.5

local function first_header(headers, name)
  if type(headers) ~= "table" then return nil end
  return headers[name]
end

-- perform's success form as plain values, or its failure form.
local function outcome(status, a, b, c, d)
  if status == nil then
    return { failed = true, kind = a, message = b, sent = c, left_after = type(d) }
  end
  return { status = status, body = a, content_type = first_header(b, "content-type"),
           headers = type(b), seconds = type(c), left_after = type(d) }
end

function _M.calls(t, base, monotonic)
  local r = {}
  -- A plain call: a GET answered 200 with a body and headers (lower-case
  -- names).
  r.plain = outcome(t:perform("GET", base .. "/m/echo_path/-/contract?x=1", { "Accept: application/json" },
    nil, 10, 5))
  -- An error answer is an answer, not a failure: the status, and the body
  -- as the server sent it (here it quotes the request: the body and the
  -- header lines must have reached the server as given).
  r.error_answer = outcome(t:perform("POST", base .. "/m/echo_request/json/contract",
    { "Accept: application/json", "Content-Type: application/x-www-form-urlencoded",
      "X-Contract: kept" }, "a=1&b=two", 10, 5))
  -- A timeout: an answer whose header never ends must fail by the deadline
  -- with kind "timeout", and say the request may have been sent.
  local started = monotonic()
  r.timeout = outcome(t:perform("GET", base .. "/m/drip_headers/-/contract", {}, nil, _M.TIMEOUT, _M.TIMEOUT))
  r.timeout.elapsed = monotonic() - started
  -- and the transport works on after it
  r.after_timeout = outcome(t:perform("GET", base .. "/m/echo_path/-/again", {}, nil, 10, 5))
  return r
end

function _M.close(t, base)
  t:close()
  local again = pcall(t.close, t)
  local ok, err = pcall(t.perform, t, "GET", base .. "/m/echo_path/-/closed", {}, nil, 5, 5)
  return { again = again, perform_raised = not ok, message = tostring(err) }
end

return _M
