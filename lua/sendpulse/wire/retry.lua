--- What a failed attempt means for trying again, and after how long.
--
-- Every error of a call carries three fields, set here for failures of the
-- exchange itself (errors made before any I/O set them where they are made):
--
--   maybe_sent  the server may have acted on the request (it was sent and
--               no answer says it was refused)
--   retryable   repeating the call can succeed and cannot do harm: the
--               failure is passing, and either nothing was done or the call
--               is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or marked
--               `idempotent = true`)
--   retry_after seconds after which a repeat can succeed, when known
--               (2020202020: 1; another 429: its Retry-After, else 1; 711:
--               900; 791: 3600; 1004: 900; a local quota: until it has room)
--
-- SendPulse has no idempotency keys, so a POST that timed out after it was
-- sent is maybe_sent and not retryable: it may have created the campaign or
-- sent the email already. The library repeats a retryable failure itself
-- while it has retries left, the wait (backoff, or retry_after) is at most
-- retry_max_delay, and the call's deadline leaves room for it; otherwise the
-- error reaches the caller with these fields to decide.

local random, min = math.random, math.min

local _M = {}

local idempotent_methods = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

function _M.idempotent(method, marked)
  return marked == true or idempotent_methods[method] == true
end

--- settle(err, method, idempotent, sent): sets maybe_sent and retryable on
-- an error of the exchange. sent: false when the transport knows the
-- request never left (connection refused, DNS, TLS before sending), true
-- once an answer came.
function _M.settle(err, method, idempotent, sent)
  local kind, status = err.kind, err.status
  local done_nothing, passing
  if kind == "rate_limit" then
    -- 2020202020, 429 and the waits 711, 791, 1004: refused before anything
    -- was done, and it will pass.
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
  err.maybe_sent = not done_nothing
  err.retryable = passing and (done_nothing or _M.idempotent(method, idempotent))
  return err
end

--- Seconds to wait before retry number `n` (1-based): exponential, capped,
-- with "equal jitter" (half fixed, half random) so that many clients hit by
-- the same failure do not come back in step. A failure with retry_after
-- waits at least that long.
function _M.delay(n, cfg, err)
  local base = min(cfg.retry_max_delay, cfg.retry_delay * 2 ^ (n - 1))
  local d = base / 2 + random() * base / 2
  if err.retry_after and err.retry_after > d then d = err.retry_after end
  return d
end

return _M
