--- The `sendpulse` command (bin/sendpulse runs cli.main(arg) and exits with
-- its result). Each command is a function of (parsed arguments, context)
-- that returns an exit code; failures are error objects, mapped to exit
-- codes by sendpulse.cli.exits and printed by sendpulse.cli.output.
--
-- Clients made here fit cron and parallel shell use: the token is kept in a
-- file (one fetch for every invocation on the host) and the 10 requests per
-- second are a host-wide budget (sendpulse.new's token_store = "file",
-- rate_limit = { shared = "host" }). SENDPULSE_TOKEN_DIR picks their folder.
local sendpulse = require "sendpulse"
local errors = require "sendpulse.errors"
local parser = require "sendpulse.cli.parser"
local output = require "sendpulse.cli.output"
local exits = require "sendpulse.cli.exits"
local help = require "sendpulse.cli.help"
local fields = require "sendpulse.cli.fields"
local catalog = require "sendpulse.cli.catalog"
local credentials = require "sendpulse.cli.credentials"
local near_names = require "sendpulse.operations.nearest"

local type, ipairs, tostring, tonumber, xpcall, pcall, error = type, ipairs, tostring, tonumber, xpcall, pcall, error
local format, traceback = string.format, debug.traceback

local _M = {}

local function usage(message)
  error(errors.new { kind = "argument", message = message }, 0)
end

-- Operation names close to `name`, for "did you mean" (the ones a
-- misspelled method names too: sendpulse.operations.nearest).
local function nearest(service, name)
  return near_names.names(catalog.operations(service), name, 5)
end

local function client_for(a, ctx)
  local creds, why = credentials.resolve({ profile = a.profile, base_url = a.base_url }, ctx.getenv)
  if not creds then usage(why) end
  local token_dir = ctx.getenv("SENDPULSE_TOKEN_DIR")
  return sendpulse.new {
    client_id = creds.client_id, client_secret = creds.client_secret, api_key = creds.api_key,
    base_url = creds.base_url, timeout = a.timeout,
    token_store = "file", token_dir = token_dir ~= "" and token_dir or nil,
    rate_limit = { shared = "host" },
  }
end

-- The --json option's object (nil without it); a usage error when unreadable.
local function json_arg(a)
  if not a.json then return nil end
  local value, why = fields.json_option(a.json)
  if not value then usage(why) end
  return value
end

local commands = {}

function commands.version(_, ctx)
  ctx.out.stdout:write("sendpulse ", sendpulse._VERSION, "\n")
  return exits.OK
end

function commands.services(_, ctx)
  ctx.out.stdout:write(help.services(), "\n")
  return exits.OK
end

function commands.help(a, ctx)
  local topic = a.topic or {}
  local text
  if #topic == 0 then text = help.USAGE
  elseif topic[1] == "credentials" then text = help.CREDENTIALS
  elseif topic[1] == "exit-codes" then text = help.exit_codes()
  elseif #topic == 1 then
    text = help.service(topic[1]) or usage(format("no service '%s' (sendpulse services lists them)", topic[1]))
  else
    text = help.operation(topic[1], topic[2])
    if not text then
      if not catalog.operations(topic[1]) then usage(format("no service '%s'", topic[1])) end
      local near = nearest(topic[1], topic[2])
      usage(format("no operation '%s' in service '%s'%s", topic[2], topic[1],
        #near > 0 and (" (did you mean " .. table.concat(near, ", ") .. "?)") or ""))
    end
  end
  ctx.out.stdout:write(text, "\n")
  return exits.OK
end

function commands.completion(a, ctx)
  local completion = require "sendpulse.cli.completion"
  ctx.out.stdout:write(completion[a.shell]())
  return exits.OK
end

function commands.sandbox(a, ctx)
  local sandbox = require "sendpulse.sandbox"
  local server = sandbox.new { host = a.host, port = a.port, rate = a.rate, log = a.log }
  local host, port = server:start()
  ctx.out.stdout:write(format("sandbox listening %s:%d\n", host, port))
  ctx.out.stdout:flush()
  server:run()
  return exits.OK
end

function commands.request(a, ctx)
  local query
  for _, kv in ipairs(a.query or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then usage(format("--query %s: write --query name=value", kv)) end
    query = query or {}
    query[k] = v
  end
  local body = json_arg(a)
  local client = client_for(a, ctx)
  local value = client:request(a.method:upper(), a.path, { query = query, json = body })
  ctx.out:value(value)
  client:close()
  return exits.OK
end

local function call(service, a, ctx)
  if not a.operation then
    ctx.out.stdout:write(help.service(service), "\n")
    return exits.OK
  end
  local op = catalog.operation(service, a.operation)
  if not op then
    local near = nearest(service, a.operation)
    usage(format("no operation '%s' in service '%s'%s (sendpulse help %s lists them)", a.operation, service,
      #near > 0 and (" (did you mean " .. table.concat(near, ", ") .. "?)") or "", service))
  end
  local args, why = fields.parse(a.fields or {}, op, json_arg(a))
  if not args then usage(why) end
  local client = client_for(a, ctx)
  local svc = client[service]
  if a.all then
    if not op.paging then
      usage(format("%s %s is not paginated: --all needs an operation with limit/offset, start/count or "
        .. "size/skip parameters", service, a.operation))
    end
    for item in svc:each(a.operation, args) do ctx.out:line(item) end
  else
    local value = svc[a.operation](svc, args)
    if type(value) == "string" and a.raw then
      ctx.out.stdout:write(value)
    else
      ctx.out:value(value)
    end
  end
  client:close()
  return exits.OK
end

-- The summary an import prints (stdout, JSON).
local function import_summary(s, journal)
  return { list = s.list, added = s.added, rejected = s.rejected, skipped = s.skipped, blank = s.blank,
           batches = s.batches, calls = s.calls, seconds = math.floor(s.seconds * 1000 + 0.5) / 1000,
           resumed = s.resumed, resent = s.resent, complete = s.complete,
           rejects = s.rejects, journal = journal }
end

function commands.import(a, ctx)
  local progress = require "sendpulse.cli.progress"
  local journal = not a.no_journal and (a.journal or a.file .. ".journal") or nil
  local rejects = a.rejects or a.file .. ".rejects.csv"
  local show
  if a.progress == "json" then show = progress.json_lines(ctx.out.stderr)
  elseif a.progress == "auto" and output.isatty(2) then show = progress.terminal(ctx.out.stderr) end
  local id = tonumber(a.list)
  if not id then usage(format("LIST_ID must be a number, got '%s'", a.list)) end
  local client = client_for(a, ctx)
  local ok, summary = pcall(client.email.import, client.email, {
    id = id, rows = a.file, batch = a.batch, journal = journal, rejects = rejects, progress = show,
    restart = a.restart and true or nil,
  })
  client:close()
  if not ok then
    local err = summary
    if type(err) == "table" and err.import then
      ctx.out:error(err)
      ctx.out:value(import_summary(err.import, journal))
      if journal and err.kind ~= "argument" and err.kind ~= "busy" then
        ctx.out:note(format("sendpulse: the import stopped at line %s; run the same command again to resume "
          .. "(journal %s)", tostring(err.import.stopped_at or "?"), journal))
      end
      return exits.for_error(err)
    end
    error(err, 0)
  end
  ctx.out:value(import_summary(summary, journal))
  if summary.rejected > 0 then return exits.REJECTED end
  return exits.OK
end

function commands.export(a, ctx)
  local id = tonumber(a.list)
  if not id then usage(format("LIST_ID must be a number, got '%s'", a.list)) end
  local client = client_for(a, ctx)
  local summary = client.email:export { id = id, out = a.output or ctx.out.stdout }
  client:close()
  if ctx.out.verbose then
    ctx.out:note(format("sendpulse: exported %d contacts, columns %s", summary.contacts,
      table.concat(summary.columns, ",")))
  end
  return exits.OK
end

--- Runs the command line `argv` (a list of strings). Returns the exit code.
-- ctx (optional): getenv, stdout, stderr.
function _M.main(argv, ctx)
  ctx = ctx or {}
  ctx.getenv = ctx.getenv or os.getenv
  local p = parser.new()
  local ok, a = p:pparse(argv)
  local out = output.new { pretty = ok and (a.pretty and true or (a.compact and false or nil)) or nil,
                           verbose = ok and a.verbose, stdout = ctx.stdout, stderr = ctx.stderr }
  ctx.out = out
  if not ok then
    out:error(errors.new { kind = "argument", message = a .. " (sendpulse help)" })
    return exits.BY_KIND.usage
  end
  if a.show_help then
    local text
    if a.command and catalog.operations(a.command) then
      text = a.operation and help.operation(a.command, a.operation) or help.service(a.command)
    end
    out.stdout:write(text or help.USAGE, "\n")
    return exits.OK
  end
  if not a.command then
    out.stderr:write(help.USAGE, "\n")
    return exits.BY_KIND.usage
  end
  local done, code = xpcall(function()
    local run = commands[a.command]
    if run then return run(a, ctx) end
    return call(a.command, a, ctx)
  end, function(e)
    if errors.is_error(e) then return e end
    return traceback(tostring(e), 2)
  end)
  if done then return code end
  if errors.is_error(code) then
    out:error(code)
    return exits.for_error(code)
  end
  out:error("internal error: " .. tostring(code))
  return exits.INTERNAL
end

return _M
