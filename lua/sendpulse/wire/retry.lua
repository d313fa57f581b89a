--- When a failed attempt is tried again, and after how long.
--
-- SendPulse has no idempotency keys, so a call whose request may have
-- reached the server is replayed only if repeating it is harmless:
--   - rejected before any processing (2020202020, HTTP 429): any method;
--   - the request never left (connection refused, DNS): any method;
--   - timed out or failed after sending, or HTTP 5xx: only methods that are
--     idempotent (GET, HEAD, PUT, DELETE, OPTIONS) or calls marked
--     `idempotent = true`. A POST that timed out is NOT replayed: it may have
--     created the campaign or sent the email already.

local random, min = math.random, math.min

local _M = {}

local idempotent_methods = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

--- err: an error object; sent: whether the request reached the wire
-- (false only for transport failures known to happen before sending).
function _M.can_retry(err, method, idempotent, sent)
  if not err.retryable then return false end
  if err.kind == "rate_limit" then return true end
  if (err.kind == "network" or err.kind == "timeout") and sent == false then return true end
  return idempotent or idempotent_methods[method] == true
end

--- Seconds to wait before retry number `n` (1-based): exponential, capped,
-- with "equal jitter" (half fixed, half random) so that many clients hit by
-- the same failure do not come back in step. A rate-limit answer waits at
-- least what SendPulse asks for (one second for 2020202020).
function _M.delay(n, cfg, err)
  local base = min(cfg.retry_max_delay, cfg.retry_delay * 2 ^ (n - 1))
  local d = base / 2 + random() * base / 2
  if err.kind == "rate_limit" and err.retry_after and err.retry_after > d then
    d = err.retry_after
  end
  return d
end

return _M
