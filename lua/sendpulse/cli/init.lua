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

-- "no service 'emails'; did you mean 'email'?"
local function no_service(name)
  local near = near_names.names(catalog.services(), name)
  return format("no service '%s'%s (sendpulse services lists them)", name,
    #near > 0 and ("; " .. help.did_you_mean(near)) or "")
end

-- argparse ends a message with "\nDid you mean 'x'?" or "\nDid you mean
-- one of these: 'x' 'y'?": the command's own sentence instead.
local function parse_error(message)
  local head, names = message:match("^(.-)%s*\nDid you mean one of these: (.-)%?$")
  if not head then head, names = message:match("^(.-)%s*\nDid you mean ('.-')%?$") end
  if not head then return message end
  local list = {}
  for n in names:gmatch("'(.-)'") do list[#list + 1] = n end
  return head .. "; " .. help.did_you_mean(list)
end

-- With --verbose, how a call went: its status, time and attempts, and
-- whether the answer was canned (the sandbox's X-Sandbox-Canned header: the
-- example of SendPulse's OpenAPI file, not an answer from state it keeps).
local function call_note(ctx, meta)
  if not ctx.out.verbose or type(meta) ~= "table" then return end
  local canned = type(meta.headers) == "table" and meta.headers["x-sandbox-canned"]
  ctx.out:note(format("sendpulse: HTTP %s in %.3f s, %s attempt%s%s", tostring(meta.status),
    tonumber(meta.duration) or 0, tostring(meta.attempts or 1), meta.attempts == 1 and "" or "s",
    canned and format("; canned answer (X-Sandbox-Canned: %s): the example of SendPulse's "
      .. "OpenAPI file, not state the sandbox keeps", canned) or ""))
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

-- Ctrl-C: lua.c and luajit.c turn SIGINT into the error "interrupted!",
-- raised from whatever Lua code runs. Not a bug: exit 130, as a shell
-- reports a SIGINT (an import's journal or an export's temporary file are
-- dealt with on the way up, as for any failure).
local INTERRUPTED = {}

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
    text = help.service(topic[1]) or usage(no_service(topic[1]))
  else
    text = help.operation(topic[1], topic[2])
    if not text then
      if not catalog.operations(topic[1]) then usage(no_service(topic[1])) end
      local near = nearest(topic[1], topic[2])
      usage(format("no operation '%s' in service '%s'%s", topic[2], topic[1],
        #near > 0 and ("; " .. help.did_you_mean(near)) or ""))
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
  ctx.out.stdout:write(format("sandbox ui %s token %s\n", server:ui_url(), server.ui_token))
  ctx.out.stdout:flush()
  local warning = server:exposure_warning()
  if warning then ctx.out.stderr:write("sendpulse sandbox: ", warning, "\n") end
  server:run()
  return exits.OK
end

-- The outbox of --outbox DIR, or of the outbox command's --dir / --redis.
local function outbox_for(client, dir, redis_url, name)
  local outbox = require "sendpulse.outbox"
  if dir then return outbox.new { client = client, store = "file", dir = dir } end
  if not redis_url then usage("the outbox needs --dir DIR or --redis redis://HOST:PORT/DB") end
  local rest = redis_url:match("^redis://(.*)$")
  if not rest then usage("--redis must be a URL redis://[:PASSWORD@]HOST[:PORT][/DB]") end
  local password, hostport, db = rest:match("^:([^@]*)@([^/]*)/?(%d*)$")
  if not hostport then hostport, db = rest:match("^([^/@]*)/?(%d*)$") end
  if not hostport or hostport == "" then usage("--redis must be a URL redis://[:PASSWORD@]HOST[:PORT][/DB]") end
  local host, port = hostport:match("^([^:]+):(%d+)$")
  host = host or hostport
  return outbox.new { client = client, store = "redis", name = name,
    redis = { host = host, port = tonumber(port) or 6379, db = tonumber(db) or 0, password = password } }
end

-- --outbox DIR: the call enqueued instead of made; prints its id.
local function enqueue(a, ctx, service, operation, args)
  local client = client_for(a, ctx)
  local box = outbox_for(client, a.outbox)
  local id = box:enqueue(service, operation, args)
  ctx.out:value { id = id, outbox = a.outbox }
  client:close()
  return exits.OK
end

function commands.outbox(a, ctx)
  local client = client_for(a, ctx)
  local box = outbox_for(client, a.dir, a.redis, a.name)
  local action = a.action
  if action == "status" then
    local st = box:status()
    if a.metrics then ctx.out.stdout:write(client:stats().text) else ctx.out:value(st) end
  elseif action == "run" then
    local summary = box:run { until_empty = a.deadline == nil, deadline = a.deadline }
    local st = box:status()
    ctx.out:value { sent = summary.sent, again = summary.again, dead = summary.dead, pending = st.pending,
                    in_flight = st.in_flight, dead_total = st.dead }
  elseif action == "retry" then
    ctx.out:value { revived = box:retry_dead() }
  else
    if not a.id then usage("outbox drop needs the entry's ID") end
    if not box:drop(a.id) then usage(format("no entry '%s' in the outbox", a.id)) end
    ctx.out:value { dropped = a.id }
  end
  client:close()
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
  if a.outbox then
    return enqueue(a, ctx, "request", a.method:upper(), { path = a.path, query = query, json = body })
  end
  local client = client_for(a, ctx)
  local value, meta = client:request(a.method:upper(), a.path, { query = query, json = body })
  ctx.out:value(value)
  call_note(ctx, meta)
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
      #near > 0 and ("; " .. help.did_you_mean(near)) or "", service))
  end
  local args, why = fields.parse(a.fields or {}, op, json_arg(a), a.allow_unknown)
  if not args then usage(why) end
  if a.outbox then
    if a.all then usage("--outbox enqueues one call: --all cannot be enqueued") end
    return enqueue(a, ctx, service, a.operation, args)
  end
  local client = client_for(a, ctx)
  local svc = client[service]
  if a.all then
    if not op.paging then
      usage(format("%s %s is not paginated: --all needs an operation with limit/offset, start/count or "
        .. "size/skip parameters", service, a.operation))
    end
    for item in svc:each(a.operation, args) do ctx.out:line(item) end
  else
    local value, meta = svc[a.operation](svc, args)
    if type(value) == "string" and a.raw then
      ctx.out.stdout:write(value)
    else
      ctx.out:value(value)
    end
    call_note(ctx, meta)
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
    id = id, rows = a.file, batch = a.batch, batch_bytes = a.batch_bytes, journal = journal, rejects = rejects,
    progress = show, raw_cells = a.raw_cells or nil, restart = a.restart and true or nil,
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
  local summary = client.email:export { id = id, out = a.output or ctx.out.stdout, raw_cells = a.raw_cells or nil }
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
    out:error(errors.new { kind = "argument", message = parse_error(a) .. " (sendpulse help)" })
    return exits.BY_KIND.usage
  end
  if a.show_version and not a.command then return commands.version(a, ctx) end
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
    if type(e) == "string" and e:find("interrupted!$") then return INTERRUPTED end
    return traceback(tostring(e), 2)
  end)
  if done then return code end
  if errors.is_error(code) then
    out:error(code)
    return exits.for_error(code)
  end
  if code == INTERRUPTED then
    out:error("interrupted")
    return exits.INTERRUPTED
  end
  out:error("internal error: " .. tostring(code))
  return exits.INTERNAL
end

return _M
