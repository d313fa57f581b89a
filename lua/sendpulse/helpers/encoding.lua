--- Base64 handled for the caller. SendPulse wants these fields Base64 (see
-- the API notes): campaign body and body_amp, template body, SMTP email.html,
-- every value of attachments_binary, and the blacklist's emails as the Base64
-- of ONE comma-separated string. The caller gives plain UTF-8 (bytes are
-- encoded as they are, so UTF-8 stays UTF-8) and reads plain text back from
-- GET /template/{id}.
--
-- Each helper has the operation's own name and replaces it; the plain form
-- stays reachable as service:raw(name, args) (see shapes.lua).

local type, pairs, ipairs, assert = type, pairs, ipairs, assert
local format, concat = string.format, table.concat

local core = require "sendpulse.core"
local catalog = require "sendpulse.operations.catalog"
local common = require "sendpulse.helpers.common"

local b64encode, b64decode = core.base64_encode, core.base64_decode

local _M = {}

-- Encodes every value of an attachments_binary map (file name -> bytes).
-- Returns the new map, or nil and the message for the first bad entry.
local function encode_attachments(map, field)
  local ok, msg = common.check_file_map(map, field)
  if not ok then return nil, msg end
  local out = {}
  for name, content in pairs(map) do out[name] = b64encode(content) end
  return out
end
_M.encode_attachments = encode_attachments

-- A copy of `args` with the string fields in `fields` encoded and
-- attachments_binary encoded; nil, message on a bad attachments_binary.
local function encode_fields(args, fields)
  if type(args) ~= "table" then return args end
  local out = common.copy(args)
  for _, f in ipairs(fields) do
    if type(out[f]) == "string" then out[f] = b64encode(out[f]) end
  end
  if out.attachments_binary ~= nil then
    local enc, msg = encode_attachments(out.attachments_binary, "attachments_binary")
    if not enc then return nil, msg end
    out.attachments_binary = enc
  end
  return out
end

local function encoding_wrapper(op_name, fields)
  -- The operation's method (meta.lua types its arguments and answer).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, op_name)
    local encoded, msg = encode_fields(args, fields)
    if encoded == nil and msg then return common.bad(self, op_name, msg) end
    return common.call(self, op_name, encoded, call_opts)
  end
end

--- The blacklist's `emails`: a list of addresses (or one string of
-- comma-separated addresses) -> Base64 of "a@x,b@y". Returns the string, or
-- nil and a message.
function _M.blacklist_emails(v)
  if type(v) == "string" then
    if v == "" then return nil, "argument 'emails' must not be empty" end
    return b64encode(v)
  end
  if type(v) ~= "table" then
    return nil, format("argument 'emails' must be a list of addresses or a string, got %s", type(v))
  end
  local n = #v
  if n == 0 then return nil, "argument 'emails' must not be empty" end
  for k, e in pairs(v) do
    if type(k) ~= "number" then return nil, "argument 'emails' must be a list (sequence) of addresses" end
    if type(e) ~= "string" or e == "" or e:find(",", 1, true) then
      return nil, format("argument 'emails' item %d must be an address without commas", k)
    end
  end
  return b64encode(concat(v, ",", 1, n))
end

local function blacklist_wrapper(op_name)
  -- The operation's method (meta.lua types its arguments and answer).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, op_name)
    if type(args) ~= "table" or args.emails == nil then return common.call(self, op_name, args, call_opts) end
    local enc, msg = _M.blacklist_emails(args.emails)
    if not enc then return common.bad(self, op_name, msg) end
    local out = common.copy(args)
    out.emails = enc
    return common.call(self, op_name, out, call_opts)
  end
end

--- A template answer with its body decoded (a copy; the answer's other
--- fields as they came). A body that is not Base64 is left as it came.
function _M.decode_template(t)
  if type(t) ~= "table" or type(t.body) ~= "string" then return t end
  local plain = b64decode(t.body)
  if plain == nil then return t end
  local out = common.copy(t)
  out.body = plain
  return out
end

local function template_reader(op_name)
  -- The operation's method (meta.lua types its arguments and answer).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, op_name)
    local value, err, meta = common.outcome(self, common.call(self, op_name, args, call_opts))
    if value == nil then return nil, err end
    return common.succeed(self, _M.decode_template(value), meta)
  end
end

--- The SMTP message `email` with html and attachments_binary encoded (a
-- copy). Returns it, or nil and a message.
function _M.encode_smtp_email(email)
  if type(email) ~= "table" then return email end
  local out = common.copy(email)
  if type(out.html) == "string" then out.html = b64encode(out.html) end
  if out.attachments_binary ~= nil then
    local enc, msg = encode_attachments(out.attachments_binary, "email.attachments_binary")
    if not enc then return nil, msg end
    out.attachments_binary = enc
  end
  return out
end

local function smtp_wrapper(op_name)
  -- The operation's method (meta.lua types its arguments and answer).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, op_name)
    if type(args) ~= "table" or type(args.email) ~= "table" then
      return common.call(self, op_name, args, call_opts)
    end
    local email, msg = _M.encode_smtp_email(args.email)
    if not email then return common.bad(self, op_name, msg) end
    local out = common.copy(args)
    out.email = email
    return common.call(self, op_name, out, call_opts)
  end
end

-- GET /templates: every template's body decoded (copies).
local function templates_reader(op_name)
  -- The operation's method (meta.lua types its arguments and answer).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, op_name)
    local value, err, meta = common.outcome(self, common.call(self, op_name, args, call_opts))
    if value == nil then return nil, err end
    if type(value) ~= "table" then return common.succeed(self, value, meta) end
    local out = common.copy(value)
    for i = 1, #out do out[i] = _M.decode_template(out[i]) end
    return common.succeed(self, out, meta)
  end
end

-- service, operation, how, fields: the list docs/helpers.md and the reference
-- (spec/tools/gen_api.lua reads it) cite. `attachments_binary` goes with
-- "encode" and "smtp" always.
_M.WRAPPED = {
  { "email", "create_campaign", "encode", { "body", "body_amp" } },
  { "email", "create_template", "encode", { "body" } },
  { "email", "update_template", "encode", { "body" } },
  { "email", "get_template_by_id", "decode", { "body" } },
  { "email", "get_template_by_slug", "decode", { "body" } },
  { "email", "get_templates", "decode_each", { "body" } },
  { "email", "add_to_blacklist", "blacklist", { "emails" } },
  { "email", "remove_from_blacklist", "blacklist", { "emails" } },
  { "smtp", "send_smtp_email", "smtp", { "email.html" } },
}

-- how -> function(operation, fields) returning the helper
local WRAPPERS = {
  encode = encoding_wrapper,
  decode = template_reader,
  decode_each = templates_reader,
  blacklist = blacklist_wrapper,
  smtp = smtp_wrapper,
}

function _M.register(add)
  for _, w in ipairs(_M.WRAPPED) do
    -- only over operations that exist: a renamed operation must show up in
    -- the specs, not as a helper that calls nothing
    assert(catalog.operation(w[1], w[2]), "sendpulse.helpers.encoding: no operation " .. w[1] .. ":" .. w[2])
    add(w[1], w[2], WRAPPERS[w[3]](w[2], w[4]))
  end
end

return _M
