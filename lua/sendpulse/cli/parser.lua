--- The command line grammar, with Debian's lua-argparse. Help texts are our
-- own (sendpulse.cli.help, from the operation data), so argparse's help
-- options are off; parse errors come back as messages, never exit().
local argparse = require "argparse"
local catalog = require "sendpulse.cli.catalog"

local ipairs, tonumber = ipairs, tonumber

local _M = {}

local function help_flag(cmd)
  cmd:flag("-h --help", "show help"):target("show_help")
  return cmd
end

--- A new parser (commands: one per service, and the fixed ones).
function _M.new()
  local p = argparse("sendpulse", "SendPulse from the shell"):add_help(false)
  p:command_target("command")
  -- `sendpulse --help` and `sendpulse --version` need no command
  p:require_command(false)
  help_flag(p)
  p:flag("--version", "the version"):target("show_version")
  p:option("--profile", "profile of the credentials file")
  p:option("--base-url", "API address (SENDPULSE_BASE_URL)")
  p:option("--timeout", "seconds for a whole call"):convert(tonumber)
  p:flag("-v --verbose", "the error object as JSON on stderr")
  p:flag("--pretty", "indented JSON even when stdout is not a terminal")
  p:flag("--compact", "compact JSON even on a terminal")
  p:option("--outbox", "enqueue the call in the outbox in this folder instead of calling it")

  for _, service in ipairs(catalog.services()) do
    local c = help_flag(p:command(service):add_help(false))
    c:argument("operation"):args("?")
    c:argument("fields"):args("*")
    c:option("--json", "the arguments as a JSON object, or @file.json")
    c:flag("--all", "every page of a paginated operation, one JSON object per line")
    c:flag("--raw", "write a file answer (a report) as it is")
    c:flag("--allow-unknown", "send fields the operation does not declare")
  end

  local r = help_flag(p:command("request"):add_help(false))
  r:argument("method")
  r:argument("path")
  r:option("--query", "a query parameter k=v (repeatable)"):count("*")
  r:option("--json", "the body as JSON, or @file.json")

  local i = help_flag(p:command("import"):add_help(false))
  i:argument("list", "the mailing list's id")
  i:argument("file", "the CSV file")
  i:option("--batch", "contacts per call (1-1000, default 500)"):convert(tonumber)
  i:option("--batch-bytes", "and at most about this many bytes of rows per call (default 2 MiB)")
    :convert(tonumber)
  i:option("--journal", "the journal (default FILE.journal; locked while the import runs)")
  i:flag("--no-journal", "no journal: a killed run starts over")
  i:option("--rejects", "rows not added (default FILE.rejects.csv)")
  i:flag("--restart", "ignore what the journal says and start over (the journal is kept, rewritten)")
  i:option("--progress", "auto (a line on a terminal), json (JSON lines on stderr) or none")
    :choices { "auto", "json", "none" }:default("auto")
  i:flag("--raw-cells", "keep a leading ' that an export put before = + - @ TAB CR")

  local e = help_flag(p:command("export"):add_help(false))
  e:argument("list", "the mailing list's id")
  e:option("-o --output", "a file instead of stdout (written whole or not at all)")
  e:flag("--raw-cells", "write cells that start with = + - @ TAB CR as they are (a spreadsheet runs them)")

  help_flag(p:command("services"):add_help(false))
  local h = p:command("help"):add_help(false)
  h:argument("topic"):args("*")
  local c = help_flag(p:command("completion"):add_help(false))
  c:argument("shell"):choices { "bash", "zsh" }
  local s = help_flag(p:command("sandbox"):add_help(false))
  s:option("--host", "address to listen on"):default("127.0.0.1")
  s:option("--port", "port (0: any free one)"):convert(tonumber):default("8765")
  s:option("--rate", "requests per second per account (0: no limit)"):convert(tonumber)
  s:option("--log", "request log file")
  local o = help_flag(p:command("outbox"):add_help(false))
  o:argument("action", "status, run, retry (the dead entries) or drop ID"):choices { "status", "run", "retry", "drop" }
  o:argument("id", "the entry to drop"):args("?")
  o:option("--dir", "the outbox's folder (file store)")
  o:option("--redis", "the outbox's Redis: redis://[:PASSWORD@]HOST[:PORT][/DB]")
  o:option("--name", "the Redis outbox's name (default \"default\")")
  o:flag("--metrics", "status: the metrics in Prometheus' text format instead of JSON")
  o:option("--deadline", "run: stop after this many seconds (default: when it is empty)"):convert(tonumber)
  help_flag(p:command("version"):add_help(false))
  return p
end

return _M
