--- Exit codes of the command, by error kind (docs/cli.md has the table).
-- A script tells failures apart by these numbers alone; stderr says more.
local _M = {}

_M.OK = 0
_M.REJECTED = 10   -- import finished, some rows in the rejects file
_M.INTERNAL = 70   -- a bug: a Lua error that is not one of the library's error objects
_M.INTERRUPTED = 130   -- Ctrl-C (SIGINT), as shells report it

-- kind -> code, and the order the table in docs/cli.md lists them.
_M.BY_KIND = {
  api = 1,          -- SendPulse answered with an error
  argument = 2,     -- usage: the command line or the call is wrong
  usage = 2,
  auth = 3,         -- credentials or token refused
  rate_limit = 4,   -- over a limit; the message says how long to wait when SendPulse does
  network = 5,      -- connection, DNS, TLS
  timeout = 6,
  decode = 7,       -- an answer that is not the JSON it should be
  protocol = 8,     -- the server broke HTTP (a malformed answer)
  too_large = 9,    -- an answer or a request over a size limit
  in_progress = 11, -- another call holds the idempotency key (docs/outbox.md)
  uncertain = 12,   -- an earlier attempt with the key may have been sent: not settled yet
  store = 13,       -- an outbox or idempotency store failed (a file, Redis)
  full = 14,        -- the outbox holds max_pending entries: not enqueued
  storage = 15,     -- a file could not be written: the disk or the quota is full (nothing half-written)
  busy = 16,        -- another import holds the journal's lock
  cancelled = 70,
  callback = 70,
}

_M.ORDER = { "api", "usage", "auth", "rate_limit", "network", "timeout", "decode", "protocol", "too_large",
             "in_progress", "uncertain", "store", "full", "storage", "busy" }

--- The exit code for an error object (or anything else raised).
function _M.for_error(err)
  local kind = type(err) == "table" and err.kind
  return kind and _M.BY_KIND[kind] or _M.INTERNAL
end

return _M
