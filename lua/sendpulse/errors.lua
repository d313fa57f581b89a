--- Error objects and SendPulse's error codes.
--
-- Every failure the client reports is an error object (a table with the
-- metatable `sendpulse.error`): stable fields to match on, and `tostring`
-- for one readable line. Kinds:
--   api         SendPulse answered with an error (error_code in `code`)
--   auth        credentials or token refused (HTTP 401, invalid_client)
--   rate_limit  over a limit: 2020202020 / HTTP 429, and the waits 711, 791, 1004
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

local setmetatable, getmetatable, type, pairs, pcall, tostring =
      setmetatable, getmetatable, type, pairs, pcall, tostring
local concat = table.concat
local format = string.format

local _M = {}

-- name, description. The table of SendPulse's API documentation, then the
-- codes seen in its OpenAPI files, its wrappers and its issues.
local codes = {
  [8] = { "no_data", "No data" },
  [10] = { "sender_email_missing", "Sender email address missing" },
  [11] = { "recipients_not_found", "Can't find recipients addresses" },
  [12] = { "subject_missing", "Subject missing" },
  [13] = { "empty_message", "Empty email message content field" },
  [14] = { "email_id_not_found", "Can't find email address with a specified ID" },
  [17] = { "email_not_found", "Can't find email address" },
  [19] = { "email_exists", "Email address already exists" },
  [20] = { "free_mail_service", "Don't use free mail services" },
  [21] = { "no_pending_activation", "No such email address awaiting activation" },
  [31] = { "template_not_found", "Template not found" },
  [32] = { "template_empty", "Template is empty" },
  [97] = { "invalid_email_type", "Invalid email address type. Don't use free mail services" },
  [201] = { "empty_list_name", "Empty mailing list name" },
  [203] = { "list_name_exists", "This mailing list name already exists" },
  [211] = { "list_empty", "Mailing list is empty" },
  [213] = { "list_not_found", "Mailing list not found" },
  [290] = { "template_not_found", "Template not found" },
  [299] = { "variable_not_found", "Variable not found" },
  [303] = { "list_emails_not_found", "Can't find email addresses in the mailing list" },
  [400] = { "smtp_user_missing", "Specified SMTP user doesn't exist. Create an SMTP account" },
  [403] = { "account_expired", "Account expired" },
  [502] = { "email_not_found", "Can't find email address" },
  [550] = { "too_many_recipients", "Too many recipients" },
  [573] = { "template_name_exists", "Template name already exists" },
  [602] = { "campaign_not_found", "Can't find campaign. Probably, it has already been sent" },
  [701] = { "sender_missing", "Sender email (address) or name not specified" },
  [703] = { "list_not_found", "Can't find mailing list" },
  [704] = { "sender_not_found", "Can't find sender" },
  [707] = { "balance_exceeded", "Account balance exceeded" },
  [708] = { "recipients_over_plan", "Recipients over the plan's limit" },
  [711] = { "list_send_wait", "Wait 15 minutes before sending to the same list again" },
  [720] = { "empty_subject", "Empty subject field" },
  [721] = { "empty_message", "Email message empty" },
  [722] = { "list_id_missing", "Mailing list ID not specified" },
  [731] = { "variables_format", "Variables in the wrong format" },
  [791] = { "campaign_limit", "API campaign limit reached (at most 4 an hour)" },
  [799] = { "bad_date", "Incorrect date format. Use YYYY-MM-DD hh:ii:ss that equals or is more than current date" },
  [800] = { "invalid_operation", "Invalid operation" },
  [802] = { "campaign_not_found", "Campaign not found" },
  [832] = { "emails_parameter", "The emails parameter is empty or wrong" },
  [901] = { "sender_name_missing", "Sender name not specified" },
  [902] = { "email_in_use", "Selected email address already in use" },
  [903] = { "sender_email_missing", "Sender email address not specified" },
  [904] = { "email_blacklisted", "Email address blacklisted" },
  [905] = { "sender_quota", "Sender address quota reached" },
  [906] = { "email_syntax", "Email address syntax error" },
  [999] = { "bad_data", "Badly formed incoming data" },
  [1003] = { "sender_not_found", "Specified sender doesn't exist" },
  [1004] = { "activation_wait", "Activation code has been sent. Wait 15 minutes to retry" },
  [1005] = { "confirmation_failed", "Error sending confirmation" },
  [1101] = { "email_missing", "Email address not specified" },
  [1104] = { "activation_code_missing", "Activation code not specified" },
  [2900] = { "template_processing", "Template is processing" },
  [21356] = { "bad_data", "Badly formed data. Check API documentation" },
  [2020202020] = { "too_many_requests", "More than 10 requests per second" },
  [3030303030] = { "plan_forbids", "Your plan does not allow this" },
}

--- Codes that mean "wait, then it will work": how long SendPulse asks for.
local waits = {
  [711] = 900,         -- one campaign per list every 15 minutes
  [791] = 3600,        -- at most 4 API campaigns an hour
  [1004] = 900,        -- sender activation code already sent
  [2020202020] = 1,    -- over 10 requests per second
}

--- `sendpulse.errors.codes[code] = { name = ..., description = ... }`
_M.codes = {}
for code, entry in pairs(codes) do
  _M.codes[code] = { name = entry[1], description = entry[2], wait = waits[code] }
end

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
-- `code` pulls the name, description and wait from the code table.
-- retryable and maybe_sent are false unless given (the call pipeline sets
-- them for every failure of an exchange: sendpulse.wire.retry).
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
function _M.describe(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "(a " .. type(v) .. " whose __tostring failed)"
end

--- A misuse of the API: `message` names the argument and the rule.
function _M.argument(message)
  return _M.new { kind = "argument", message = message, retryable = false }
end

--- Is `v` one of our error objects?
function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == Error
end

_M.metatable = Error

return _M
