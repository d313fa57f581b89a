--- The built-in reconciler of POST /smtp/emails: was this message sent?
--
-- SendPulse has no idempotency keys and no request id, and its send schema
-- has no field for a header of our own, so a message is found again the way
-- a person would: GET /smtp/emails for the first recipient over the dates of
-- the window, then a row with the same sender and subject sent at or after
-- the first attempt (less clock_slack: the time zone of send_date is not
-- documented; the sandbox writes UTC). At most MAX_PAGES pages of 100 rows
-- are read (the newest first on SendPulse).
--
--   reconcile(perform, request, record, opts) -> "found", value | "not_found" | nil, err
--
-- perform(method, path, opts) is the client's pipeline without the ledger
-- (the budget, retries, token). value is what the send would have answered:
-- { result = true, id = <the row's id> }.
local type, ipairs, tonumber, floor = type, ipairs, tonumber, math.floor
local date = os.date

local _M = {}

_M.MAX_PAGES = 10
_M.PAGE = 100

--- Does this request have a built-in reconciler?
function _M.applies(request)
  return request.method == "POST" and request.path == "/smtp/emails"
end

-- Days from 1970-01-01 to a civil date (proleptic Gregorian): no time zone
-- of this machine gets in (os.time would read the date as local time).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- "YYYY-MM-DD HH:MM:SS" read as UTC, or nil.
local function utc_seconds(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(se)
end
_M.utc_seconds = utc_seconds

function _M.reconcile(perform, request, record, opts)
  local body = request.json
  local email = type(body) == "table" and body.email
  local to = type(email) == "table" and type(email.to) == "table" and email.to[1]
  local recipient = type(to) == "table" and to.email or to
  local sender = type(email) == "table" and type(email.from) == "table" and email.from.email
  if type(recipient) ~= "string" or type(sender) ~= "string" or type(email.subject) ~= "string" then
    return nil, "the request has no recipient, sender and subject to look for"
  end
  local since = (record.first_at or opts.now) - opts.clock_slack
  local query = { recipient = recipient, from = date("!%Y-%m-%d", floor(since)),
                  to = date("!%Y-%m-%d", floor(opts.now + opts.clock_slack)), limit = _M.PAGE }
  for page = 0, _M.MAX_PAGES - 1 do
    query.offset = page * _M.PAGE
    local rows, err = perform("GET", "/smtp/emails", { query = query })
    if rows == nil then return nil, err end
    if type(rows) ~= "table" then return nil, "GET /smtp/emails answered " .. type(rows) .. ", not a list" end
    for _, r in ipairs(rows) do
      if type(r) == "table" and r.recipient == recipient and r.sender == sender and r.subject == email.subject then
        local at = utc_seconds(r.send_date)
        if at and at >= since then return "found", { result = true, id = r.id } end
      end
    end
    if #rows < _M.PAGE then break end
  end
  return "not_found"
end

return _M
