--- `sendpulse help [SERVICE [OPERATION]]` and `sendpulse services`: texts
-- made from the generated operation data (the same data the client's
-- methods, the completion scripts and the field typing use).
local json = require "sendpulse.json"
local catalog = require "sendpulse.cli.catalog"
local exits = require "sendpulse.cli.exits"

local type, ipairs, pairs, tostring, format = type, ipairs, pairs, tostring, string.format
local concat, sort = table.concat, table.sort

local _M = {}

_M.USAGE = [==[
usage: sendpulse [--profile NAME] [--base-url URL] [--verbose] [--pretty | --compact] [--timeout S]
                 [--outbox DIR] COMMAND ...
       sendpulse --help | -h | --version

commands:
  SERVICE OPERATION [field=value ...] [--json '{...}' | --json @file.json] [--all] [--raw]
                    [--allow-unknown]
                           call one of the API's operations (sendpulse services lists them);
                           a field it does not declare is refused unless --allow-unknown
  request METHOD PATH [--query k=v ...] [--json ...]
                           any endpoint
  import LIST_ID FILE.csv  contacts into a mailing list (batches, journal, rejects, progress)
  export LIST_ID [--output FILE] [--raw-cells]
                           every contact of a list as CSV
  services                 the services and how many operations each has
  help [SERVICE [OPERATION]]
                           this text, a service's operations, one operation in full
  help credentials | help exit-codes
  completion bash|zsh      a shell completion script
  sandbox [--port N] [--rate N] [--log FILE]
                           run the local SendPulse-compatible sandbox
  outbox status|run|retry|drop [ID] (--dir DIR | --redis redis://HOST:PORT/DB) [--metrics]
                           the durable outbox (docs/outbox.md); --outbox DIR before any
                           SERVICE OPERATION or request enqueues it instead and prints its id
  version

credentials: SENDPULSE_CLIENT_ID + SENDPULSE_CLIENT_SECRET, or SENDPULSE_API_KEY, or a profile
file (sendpulse help credentials); SENDPULSE_BASE_URL or --base-url points at a sandbox.
Output: JSON on stdout, indented on a terminal; errors on stderr; exit codes by error kind
(sendpulse help exit-codes). Full guide: docs/cli.md.]==]

_M.CREDENTIALS = [[
Credentials, in this order:
  1. --profile NAME (or SENDPULSE_PROFILE): that section of the profile file
  2. SENDPULSE_API_KEY, or SENDPULSE_CLIENT_ID and SENDPULSE_CLIENT_SECRET
  3. the [default] section of the profile file, if there is one
The profile file: $SENDPULSE_CREDENTIALS, else $XDG_CONFIG_HOME/sendpulse/credentials, else
~/.config/sendpulse/credentials. It must be a regular file of yours that only you may read
(chmod 600), or it is refused.

  [default]
  client_id = ...
  client_secret = ...

  [sandbox]
  api_key = sandbox-api-key
  base_url = http://127.0.0.1:8765

Keys: client_id, client_secret, api_key, base_url.]]

--- "did you mean 'a', 'b' or 'c'?" for a non-empty list of names: the
--- command's one sentence for a misspelled name, written after "; ".
function _M.did_you_mean(names)
  local quoted = {}
  for i, n in ipairs(names) do quoted[i] = "'" .. n .. "'" end
  local last = quoted[#quoted]
  quoted[#quoted] = nil
  return "did you mean " .. (#quoted > 0 and concat(quoted, ", ") .. " or " or "") .. last .. "?"
end

function _M.exit_codes()
  local names = {
    api = "SendPulse answered with an error", usage = "usage: a wrong command line or argument",
    auth = "credentials or token refused",
    rate_limit = "over a rate limit (the message says how long to wait: \"(wait 15 min)\")",
    network = "connection, DNS or TLS failure", timeout = "no answer in time",
    decode = "an answer that is not the JSON it should be", protocol = "the server broke HTTP",
    too_large = "an answer or request over a size limit",
    in_progress = "another call holds the idempotency key", uncertain = "an earlier attempt may have been sent",
    store = "an outbox or idempotency store failed", full = "the outbox is full: not enqueued",
    storage = "a file could not be written: the disk or the quota is full",
    busy = "another import is running with the same journal",
  }
  local rows = { { exits.REJECTED, "import finished; some rows are in the rejects file" } }
  for _, kind in ipairs(exits.ORDER) do
    rows[#rows + 1] = { exits.BY_KIND[kind], format("%s (%s)", names[kind], kind) }
  end
  table.sort(rows, function(a, b) return a[1] < b[1] end)
  local lines = { "exit codes:", "  0   success" }
  for _, r in ipairs(rows) do lines[#lines + 1] = format("  %-3d %s", r[1], r[2]) end
  lines[#lines + 1] = format("  %-3d internal error (a bug: please report it)", exits.INTERNAL)
  return concat(lines, "\n")
end

--- `sendpulse services`: name, base path, number of operations.
function _M.services()
  local lines = {}
  for _, s in ipairs(catalog.services()) do
    local base = catalog.base(s)
    lines[#lines + 1] = format("%-14s %4d operations  %s", s, #catalog.operations(s), base ~= "" and base or "/")
  end
  return concat(lines, "\n")
end

--- A service's operations with their HTTP call and summary.
function _M.service(service)
  local ops = catalog.operations(service)
  if not ops then return nil end
  local lines = { format("%s: %d operations (sendpulse help %s OPERATION for one in full)", service, #ops, service) }
  local base = catalog.base(service)
  for _, name in ipairs(ops) do
    local op = catalog.operation(service, name)
    lines[#lines + 1] = format("  %-44s %-6s %s", name, op.method, base .. op.path)
    if op.summary then lines[#lines + 1] = "      " .. op.summary end
  end
  return concat(lines, "\n")
end

local function shell_word(s)
  if s:find("^[%w@%%+,./:=_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- An example command line for an operation, from the spec's example.
function _M.example(service, name, op)
  local words = { "sendpulse", service, name }
  local example = type(op.example) == "table" and op.example or {}
  local keys = {}
  for k in pairs(example) do if type(k) == "string" then keys[#keys + 1] = k end end
  sort(keys)
  for _, k in ipairs(keys) do
    local v = example[k]
    if type(v) == "table" then
      words[#words + 1] = shell_word(k .. ":=" .. json.encode(v))
    elseif type(v) == "string" or type(v) == "number" or type(v) == "boolean" then
      local field = catalog.field(op, k)
      local text = type(v) == "number" and json.encode(v) or tostring(v)
      -- a string field whose example looks like a number or boolean stays a string anyway
      if field and field.type ~= "string" and type(v) == "string" then
        words[#words + 1] = shell_word(k .. ":=" .. json.encode(v))
      else
        words[#words + 1] = shell_word(k .. "=" .. text)
      end
    end
  end
  return concat(words, " ")
end

--- One operation in full: call, parameters, example.
function _M.operation(service, name)
  local op = catalog.operation(service, name)
  if not op then return nil end
  local lines = { format("%s %s: %s", service, name, op.summary or ""),
                  format("  %s %s", op.method, catalog.base(service) .. op.path), "" }
  local fields = catalog.fields(op)
  if #fields == 0 then
    lines[#lines + 1] = "parameters: none"
  else
    lines[#lines + 1] = "parameters:"
    for _, f in ipairs(fields) do
      local t = f.type or "any"
      if f.enum then t = t .. " (" .. concat(f.enum, "|") .. ")" end
      lines[#lines + 1] = format("  %-28s %-22s %-8s %s", f.name, t, f.required and "required" or "",
        f.where == "form" and "form (name=@path sends a file)" or f.where)
    end
  end
  if op.paging then lines[#lines + 1] = "paginated: --all prints every item, one JSON object per line" end
  if op.accept and not op.accept:find("json", 1, true) then
    lines[#lines + 1] = "answers a file (" .. op.accept .. "): --raw writes it as it is"
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "example:"
  lines[#lines + 1] = "  " .. _M.example(service, name, op)
  return concat(lines, "\n")
end

return _M
