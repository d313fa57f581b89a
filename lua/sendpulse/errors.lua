--- Error objects and SendPulse's error codes.
--
-- Every failure the client reports is an error object (a table with the
-- metatable `sendpulse.error`): stable fields to match on, and `tostring`
-- for one readable line. Kinds:
--   api         SendPulse answered with an error (error_code in `code`)
--   auth        credentials or token refused (HTTP 401, invalid_client)
--   rate_limit  over a limit: HTTP 429, or a code of kind rate_limit below
--               (2020202020, and the waits 711, 791, 1004)
--   network     connection, DNS, TLS or protocol failure (curl's text)
--   timeout     no answer within the timeout
--   too_large   an answer or its headers over a bound (max_answer_size,
--               core.limits): the message names the bound and its value
--   protocol    the server broke HTTP framing (status line, Content-Length,
--               chunk sizes)
--   decode      an answer that is not the JSON it should be
--   argument    the call itself is wrong (names the argument and the rule)
--   storage     a file could not be written because the disk (or the user's
--               quota) is full, or the device failed: ENOSPC, EDQUOT, EFBIG,
--               EIO (bulk import and export; the message names the file)
--   busy        a file is locked by another run: a second import with the
--               same journal (sendpulse.bulk.journal)
--   cancelled   the call's client was closed while it ran (from a hook, say);
--               transport = "multi": also the call was cancelled
--   callback    transport = "multi": Lua code raised (a completion callback, the
--               function given to client:run); the raised value is in `cause`
--   in_progress another holder has the call's idempotency key and did not finish
--               within the call's deadline (docs/outbox.md); retryable
--   uncertain   the call's idempotency key is `uncertain` (an earlier attempt may
--               have been sent) and on_uncertain = "hold", or the reconciler could
--               not settle it yet; `first_at` is the first attempt's time (Unix s)
--   store       an idempotency ledger or an outbox store failed (a file, Redis, a
--               shared dict) or holds what it should not; `store` names it
--   full        the outbox holds max_pending entries: the entry was not enqueued
-- An argument error with `reason = "idempotency_mismatch"` is the same
-- idempotency key given with another request (method, path, query or body).
-- An outbox's dead entries carry `reason`: "rejected" (the API refused it: a
-- 4xx or an error envelope), "invalid" (refused before sending: unknown
-- operation, bad arguments) or "attempts" (max_attempts spent).
-- An api error's field_errors lists what the answer said of each field
-- ({ field =, message = }; sendpulse.wire.response).

local setmetatable, getmetatable, type, pairs, pcall, tostring, error =
      setmetatable, getmetatable, type, pairs, pcall, tostring, error
local concat, sort = table.concat, table.sort
local format = string.format
local floor, ceil = math.floor, math.ceil

local _M = {}

-- SendPulse's error codes: one entry per code, and everything the library
-- knows of it said here only (the one-list pattern of Lua-cURLv3's
-- lcerr_easy.h). sendpulse.wire.response takes an error's kind from it,
-- sendpulse.wire.retry whether and after how long to try again,
-- service:patient which codes to wait out, the sandbox the codes it
-- answers with, and docs/guide.md's code table is generated from it
-- (spec/tools/gen_error_codes.lua).
--
--   code      SendPulse's error_code
--   name      ours, stable, for matching (err.name)
--   kind      the error's kind: "api" (refused), "rate_limit" (come back
--             later), "auth"
--   retryable trying again can succeed and cannot do harm: SendPulse refused
--             before doing anything, and the refusal passes. Every code with a
--             wait is retryable (define refuses one that is not)
--   wait      seconds SendPulse asks to wait before trying again (err.retry_after
--             when the answer's Retry-After does not say otherwise), or false
--   hint      what it means, in English: err.description, and the message when
--             the answer has none
--
-- The table of SendPulse's API documentation, then the codes seen in its
-- OpenAPI files, its wrappers and its issues.
-- luacheck: push no max line length (one code a line, in columns)
local CODES = {
  -- code      name                        kind          retryable wait   hint
  { 8,          "no_data",                  "api",        false,    false, "No data" },
  { 10,         "sender_email_missing",     "api",        false,    false, "Sender email address missing" },
  { 11,         "recipients_not_found",     "api",        false,    false, "Can't find recipients addresses" },
  { 12,         "subject_missing",          "api",        false,    false, "Subject missing" },
  { 13,         "empty_message",            "api",        false,    false, "Empty email message content field" },
  { 14,         "email_id_not_found",       "api",        false,    false, "Can't find email address with a specified ID" },
  { 17,         "email_not_found",          "api",        false,    false, "Can't find email address" },
  { 19,         "email_exists",             "api",        false,    false, "Email address already exists" },
  { 20,         "free_mail_service",        "api",        false,    false, "Don't use free mail services" },
  { 21,         "no_pending_activation",    "api",        false,    false, "No such email address awaiting activation" },
  { 31,         "template_not_found",       "api",        false,    false, "Template not found" },
  { 32,         "template_empty",           "api",        false,    false, "Template is empty" },
  { 97,         "invalid_email_type",       "api",        false,    false, "Invalid email address type. Don't use free mail services" },
  { 201,        "empty_list_name",          "api",        false,    false, "Empty mailing list name" },
  { 203,        "list_name_exists",         "api",        false,    false, "This mailing list name already exists" },
  { 211,        "list_empty",               "api",        false,    false, "Mailing list is empty" },
  { 213,        "list_not_found",           "api",        false,    false, "Mailing list not found" },
  { 290,        "template_not_found",       "api",        false,    false, "Template not found" },
  { 299,        "variable_not_found",       "api",        false,    false, "Variable not found" },
  { 303,        "list_emails_not_found",    "api",        false,    false, "Can't find email addresses in the mailing list" },
  { 400,        "smtp_user_missing",        "api",        false,    false, "Specified SMTP user doesn't exist. Create an SMTP account" },
  { 403,        "account_expired",          "api",        false,    false, "Account expired" },
  { 502,        "email_not_found",          "api",        false,    false, "Can't find email address" },
  { 550,        "too_many_recipients",      "api",        false,    false, "Too many recipients" },
  { 573,        "template_name_exists",     "api",        false,    false, "Template name already exists" },
  { 602,        "campaign_not_found",       "api",        false,    false, "Can't find campaign. Probably, it has already been sent" },
  { 701,        "sender_missing",           "api",        false,    false, "Sender email (address) or name not specified" },
  { 703,        "list_not_found",           "api",        false,    false, "Can't find mailing list" },
  { 704,        "sender_not_found",         "api",        false,    false, "Can't find sender" },
  { 707,        "balance_exceeded",         "api",        false,    false, "Account balance exceeded" },
  { 708,        "recipients_over_plan",     "api",        false,    false, "Recipients over the plan's limit" },
  { 711,        "list_send_wait",           "rate_limit", true,     900,   "Wait 15 minutes before sending to the same mailing list again" },
  { 720,        "empty_subject",            "api",        false,    false, "Empty subject field" },
  { 721,        "empty_message",            "api",        false,    false, "Email message empty" },
  { 722,        "list_id_missing",          "api",        false,    false, "Mailing list ID not specified" },
  { 731,        "variables_format",         "api",        false,    false, "Variables in the wrong format" },
  { 791,        "campaign_limit",           "rate_limit", true,     3600,  "API campaign limit reached (at most 4 an hour)" },
  { 799,        "bad_date",                 "api",        false,    false, "Incorrect date format. Use YYYY-MM-DD hh:ii:ss that equals or is more than current date" },
  { 800,        "invalid_operation",        "api",        false,    false, "Invalid operation" },
  { 802,        "campaign_not_found",       "api",        false,    false, "Campaign not found" },
  { 832,        "emails_parameter",         "api",        false,    false, "The emails parameter is empty or wrong" },
  { 901,        "sender_name_missing",      "api",        false,    false, "Sender name not specified" },
  { 902,        "email_in_use",             "api",        false,    false, "Selected email address already in use" },
  { 903,        "sender_email_missing",     "api",        false,    false, "Sender email address not specified" },
  { 904,        "email_blacklisted",        "api",        false,    false, "Email address blacklisted" },
  { 905,        "sender_quota",             "api",        false,    false, "Sender address quota reached" },
  { 906,        "email_syntax",             "api",        false,    false, "Email address syntax error" },
  { 999,        "bad_data",                 "api",        false,    false, "Badly formed incoming data" },
  { 1003,       "sender_not_found",         "api",        false,    false, "Specified sender doesn't exist" },
  { 1004,       "activation_wait",          "rate_limit", true,     900,   "Activation code has been sent. Wait 15 minutes to retry" },
  { 1005,       "confirmation_failed",      "api",        false,    false, "Error sending confirmation" },
  { 1101,       "email_missing",            "api",        false,    false, "Email address not specified" },
  { 1104,       "activation_code_missing",  "api",        false,    false, "Activation code not specified" },
  { 2900,       "template_processing",      "api",        false,    false, "Template is processing" },
  { 21356,      "bad_data",                 "api",        false,    false, "Badly formed data. Check API documentation" },
  { 2020202020, "too_many_requests",        "rate_limit", true,     1,     "More than 10 requests per second" },
  { 3030303030, "plan_forbids",             "api",        false,    false, "Your plan does not allow this" },
}
-- luacheck: pop

local KINDS = { api = true, rate_limit = true, auth = true }

--- The longest wait a code may ask for, seconds (a day).
_M.MAX_WAIT = 86400

--- `sendpulse.errors.codes[code] = { name =, kind =, retryable =, wait =,
-- hint =, description = }` (description: the hint, by its older name; wait
-- nil for a code without one).
---@type table<integer, sendpulse.ErrorCode>
_M.codes = {}

--- errors.define{ code =, name =, kind =, retryable =, wait =, hint = }: adds
-- (or replaces) the entry of one code, for this Lua state. Every
-- classification reads the table when an answer comes, so a code SendPulse
-- starts sending is taught here once. retryable defaults to whether there
-- is a wait; a code with a wait cannot be marked not retryable. Raises an
-- argument error naming the field and the rule.
---@param e { code: integer, name: string, kind: "api"|"rate_limit"|"auth", retryable?: boolean, wait?: number|false,
---   hint: string }
function _M.define(e)
  local function bad(rule)
    error(_M.argument("errors.define: " .. rule), 2)
  end
  if type(e) ~= "table" then bad("the entry must be a table") end
  local code, wait = e.code, e.wait or nil
  if type(code) ~= "number" or code < 1 or code ~= math.floor(code) or code >= 2 ^ 53 then
    bad("field 'code' must be a positive integer")
  end
  if type(e.name) ~= "string" or not e.name:find("^[a-z][a-z0-9_]*$") then
    bad("field 'name' must be a lower-case name (letters, digits, '_')")
  end
  if not KINDS[e.kind] then bad("field 'kind' must be \"api\", \"rate_limit\" or \"auth\"") end
  if wait ~= nil and not (type(wait) == "number" and wait > 0 and wait <= _M.MAX_WAIT) then
    bad(format("field 'wait' must be a number of seconds from 0 (excluded) to %d, or nil", _M.MAX_WAIT))
  end
  local retryable = e.retryable
  if retryable == nil then retryable = wait ~= nil end
  if type(retryable) ~= "boolean" then bad("field 'retryable' must be a boolean or nil") end
  if wait and not retryable then
    bad(format("code %d has a wait, so it is retryable: SendPulse refused before doing anything "
      .. "and asks to come back", code))
  end
  if type(e.hint) ~= "string" or e.hint == "" then bad("field 'hint' must be a non-empty string") end
  _M.codes[code] = { name = e.name, kind = e.kind, retryable = retryable, wait = wait, hint = e.hint,
                     description = e.hint }
end

--- The codes that ask for a wait, ascending: what service:patient waits out
-- unless told otherwise.
---@return integer[]
function _M.waiting_codes()
  local list = {}
  for code, entry in pairs(_M.codes) do
    if entry.wait then list[#list + 1] = code end
  end
  sort(list)
  return list
end

--- A duration in seconds as a message says it: "0.25 s", "30 s", "15 min",
-- "2.5 h".
---@param s number seconds
---@return string
function _M.duration(s)
  if s < 10 and s ~= floor(s) then return format("%.2f s", s) end
  if s < 120 then return format("%.0f s", s) end
  if s < 7200 then return format("%d min", ceil(s / 60)) end
  return format("%.1f h", s / 3600)
end

-- Every field an error object may carry (docs/guide.md, "Errors"), for
-- editors (LuaLS).
---@alias sendpulse.ErrorKind
---| "api" # SendPulse answered with an error
---| "auth" # credentials or token refused
---| "rate_limit" # over a limit (2020202020, 429, 711, 791, 1004)
---| "network" # connection, DNS, TLS or protocol failure
---| "timeout" # no answer within the timeout
---| "too_large" # an answer or its headers over a bound
---| "protocol" # the server broke HTTP framing
---| "decode" # an answer that is not the JSON it should be
---| "argument" # the call itself is wrong
---| "cancelled" # the client was closed during the call, or the call cancelled
---| "callback" # Lua code raised (transport = "multi")
---| "in_progress" # another holder has the idempotency key
---| "uncertain" # an earlier attempt with the key may have been sent
---| "store" # an idempotency ledger or an outbox store failed
---| "full" # the outbox holds max_pending entries
---| "storage" # a file could not be written: the disk or the quota is full
---| "busy" # another run holds the file's lock (an import's journal)

---@class sendpulse.Error
---@field kind sendpulse.ErrorKind what failed (the list at the top of sendpulse/errors.lua)
---@field message string the server's message, or ours (curl's text, what came back instead of JSON)
---@field code? integer SendPulse's error_code (or the HTTP status when the answer had none)
---@field name? string the code's name in sendpulse.errors ("list_not_found")
---@field description? string the code's description in sendpulse.errors
---@field status? integer the HTTP status
---@field method? string the call's method (never the token request's)
---@field path? string the call's path
---@field retryable boolean repeating the call can succeed and cannot do harm
---@field maybe_sent boolean the server may have acted on it: sent, and no answer says it was refused
---@field retry_after? number seconds after which a repeat can succeed, when known
---@field field_errors? { field: string, message: string }[] what an error answer said of each field
---@field stage? "token"|"rate" failed while getting the token, or while waiting for a slot
---@field window? "per_second"|"per_minute"|"per_hour"|"per_day" the budget a rate failure names
---@field attempts? integer how many attempts reached the transport
---@field tls? boolean a network error: TLS verification failed
---@field cause? any kind "callback": the value Lua code raised
---@field reason? string "idempotency_mismatch" (argument); outbox dead entries: "rejected", "invalid", "attempts"
---@field idempotency? "uncertain" the answer never came: a later call with the key settles it
---@field first_at? number kind "uncertain": the first attempt's time (Unix seconds)
---@field store? string kind "store": which store failed
---@field rule? string webhooks: which check refused the request or the body
---@field waited? number service:patient: seconds spent waiting
---@field attempts_made? integer service:patient: calls made
---@field done? any[] a batch helper: the items processed
---@field pending? any[] a batch helper: the items not processed (the failed batch and those after it)
---@field batches? sendpulse.BatchResult[] a batch helper: every batch sent
---@field import? sendpulse.ImportSummary email:import: the summary so far
---@field changes? sendpulse.webhooks.Changes webhooks.subscribe: what was done before the failure

-- An entry of sendpulse.errors (sendpulse.errors[code]).
---@class sendpulse.ErrorCode
---@field name string
---@field kind "api"|"rate_limit"|"auth"
---@field retryable boolean
---@field wait? number seconds SendPulse asks to wait (711, 791, 1004, 2020202020)
---@field hint string what it means, in English
---@field description string the hint, by its older name

local Error = {}
Error.__index = Error
Error.__name = "sendpulse.error"

-- One line; the status once: at the end, and not again as a code that
-- only repeats it (SendPulse's error_code 422 beside HTTP 422).
function Error.__tostring(e)
  local parts = { "sendpulse: ", e.kind, " error" }
  if e.code and not (e.code == e.status and e.name == nil) then parts[#parts + 1] = format(" %s", e.code) end
  if e.name then parts[#parts + 1] = format(" (%s)", e.name) end
  if e.method and e.path then
    parts[#parts + 1] = format(" on %s %s", e.method, e.path)
  end
  parts[#parts + 1] = ": "
  parts[#parts + 1] = e.message or e.description or "no message"
  if e.status then parts[#parts + 1] = format(" [HTTP %d]", e.status) end
  return concat(parts)
end

--- Builds an error object. `fields.kind` and `fields.message` are required;
-- `code` pulls the name, description (the hint) and wait from the code
-- table; a wait only where retry_after is not given (an answer's
-- Retry-After wins over the code's default).
-- retryable and maybe_sent are false unless given (the call pipeline sets
-- them for every failure of an exchange: sendpulse.wire.retry).
---@param fields table kind, message and any field of sendpulse.Error
---@return sendpulse.Error
function _M.new(fields)
  local e = {}
  for k, v in pairs(fields) do e[k] = v end
  local entry = e.code and _M.codes[e.code]
  if entry then
    e.name = e.name or entry.name
    e.description = e.description or entry.description
    if entry.wait and e.retry_after == nil then e.retry_after = entry.wait end
  end
  if e.retryable == nil then e.retryable = false end
  if e.maybe_sent == nil then e.maybe_sent = false end
  return setmetatable(e, Error)
end

--- tostring(v) for a message, even when v's __tostring raises (a value
-- raised by user code: a store, a callback, a task).
---@param v any
---@return string
function _M.describe(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "(a " .. type(v) .. " whose __tostring failed)"
end

--- A misuse of the API: `message` names the argument and the rule.
---@param message string
---@return sendpulse.Error
function _M.argument(message)
  return _M.new { kind = "argument", message = message, retryable = false }
end

--- Is `v` one of our error objects?
---@param v any
---@return boolean
---@nodiscard
function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == Error
end

_M.metatable = Error

-- The table above, checked entry by entry as define checks a caller's.
for i = 1, #CODES do
  local c = CODES[i]
  _M.define { code = c[1], name = c[2], kind = c[3], retryable = c[4], wait = c[5], hint = c[6] }
end

return _M
