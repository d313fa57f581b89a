--- Whether to try a failed call again, and after how long: the whole
-- decision, in one place (next_wait), as stripe-go keeps shouldRetry.
--
-- Every error of a call carries three fields, set here for failures of the
-- exchange itself (settle; errors made before any I/O set them where they
-- are made):
--
--   maybe_sent  the server may have acted on the request (it was sent and
--               no answer says it was refused)
--   retryable   repeating the call can succeed and cannot do harm: the
--               failure is passing, and either nothing was done or the call
--               is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or marked
--               `idempotent = true`)
--   retry_after seconds after which a repeat can succeed, when known: the
--               answer's Retry-After, else the code's wait (sendpulse.errors:
--               2020202020: 1, 711: 900, 791: 3600, 1004: 900), else for a
--               429 1; a local quota: until it has room
--
-- What a SendPulse error code means comes from sendpulse.errors' table
-- (a code marked retryable there is refused before anything was done, and
-- passes); the kind decides only for failures without such a code.
--
-- SendPulse has no idempotency keys, so a POST that timed out after it was
-- sent is maybe_sent and not retryable: it may have created the campaign or
-- sent the email already, and its message says so. The library repeats a
-- retryable failure itself (next_wait) while it has retries left, the wait
-- (backoff, or retry_after) is at most retry_max_delay, and the call's
-- deadline leaves room for it; otherwise the error reaches the caller with
-- these fields to decide. (A 401 is not a retry: the pipeline fetches a new
-- token and replays the call once, sendpulse.client.pipeline.)

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"

local tostring = tostring
local random, min = math.random, math.min
local format = string.format
local monotonic = core.monotonic
local codes, duration = errors.codes, errors.duration

local _M = {}

local idempotent_methods = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

function _M.idempotent(method, marked)
  return marked == true or idempotent_methods[method] == true
end

--- settle(err, method, idempotent, sent): sets maybe_sent and retryable on
-- an error of the exchange. sent: false when the transport knows the
-- request never left (connection refused, DNS, TLS before sending), true
-- once an answer came. A failure that would pass but may have been carried
-- out, on a call that is not safe to repeat, says so in its message.
function _M.settle(err, method, idempotent, sent)
  local kind, status = err.kind, err.status
  local entry = err.code and codes[err.code]
  local done_nothing, passing
  if entry and entry.retryable then
    -- SendPulse refused it before doing anything, and asks to come back
    -- (2020202020 and the waits 711, 791, 1004: sendpulse.errors).
    done_nothing, passing = true, true
  elseif kind == "rate_limit" then
    -- HTTP 429 whatever its code, a local quota: refused, and it will pass.
    done_nothing, passing = true, true
  elseif kind == "auth" then
    done_nothing, passing = true, false
  elseif kind == "api" then
    -- 5xx: the server failed somewhere, maybe after acting. 4xx and the
    -- envelopes in 200 answers: refused.
    done_nothing = not (status and status >= 500)
    passing = not done_nothing
  elseif kind == "decode" then
    -- A 2xx answer that is not JSON: the server acted; asking again gets
    -- the same answer.
    done_nothing, passing = false, false
  elseif kind == "too_large" then
    done_nothing, passing = false, false
  else
    -- network, timeout, protocol: the transport failed. Before the request
    -- left, nothing happened; a certificate that failed verification will
    -- fail again.
    done_nothing = sent == false
    passing = not err.tls
  end
  local safe = _M.idempotent(method, idempotent)
  err.maybe_sent = not done_nothing
  err.retryable = passing and (done_nothing or safe)
  if passing and not done_nothing and not safe then
    err.message = format("%s (it may have been carried out, so it was not repeated: a %s is not "
      .. "safe to send twice; check before sending it again)", tostring(err.message), tostring(method))
  end
  return err
end

--- Seconds to wait before retry number `n` (1-based): exponential, capped,
-- with "equal jitter" (half fixed, half random) so that many clients hit by
-- the same failure do not come back in step.
function _M.backoff(n, cfg)
  local base = min(cfg.retry_max_delay, cfg.retry_delay * 2 ^ (n - 1))
  return base / 2 + random() * base / 2
end

--- next_wait(err, attempt, cfg, call) -> seconds, or nil and why not (a
-- phrase). The whole decision to try a failed call again: err (settled),
-- attempt (the attempt that failed, 1 for the first; retries = attempt - 1
-- so far), cfg (retries, retry_delay, retry_max_delay), call (deadline, a
-- monotonic time, and timeout; nil: no deadline). The wait is the backoff,
-- or retry_after when that is longer. When a failure that could pass is
-- not tried again, its message says why (the wait asked for, the retries,
-- the timeout).
function _M.next_wait(err, attempt, cfg, call)
  if not err.retryable then return nil, "not retryable" end
  local asked = err.retry_after
  local why
  if attempt > cfg.retries then
    why = format("not tried again: %d %s spent", cfg.retries, cfg.retries == 1 and "retry" or "retries")
  elseif asked and asked > cfg.retry_max_delay then
    -- Longer waits (711: 900 s) are the caller's to decide on.
    why = format("not tried again: a wait of %s is longer than retry_max_delay, %s", duration(asked),
      duration(cfg.retry_max_delay))
  else
    local d = _M.backoff(attempt, cfg)
    if asked and asked > d then d = asked end
    if not (call and monotonic() + d >= call.deadline) then return d end
    why = format("not tried again: the %g s timeout leaves no time", call.timeout)
  end
  -- (An error of the wait for a slot, stage "rate", says so already.)
  if not err.stage and attempt <= cfg.retries then err.message = format("%s (%s)", tostring(err.message), why) end
  return nil, why
end

return _M
