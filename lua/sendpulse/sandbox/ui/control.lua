-- The control page: reset, advance the clock, queue and clear faults. Each
-- form posts here with the sandbox's token (guard.lua) and does exactly
-- what the control API's call does (routes/control.lua, routes/clock.lua):
-- the same server methods, the same checks and messages.
local html = require "sendpulse.sandbox.ui.html"
local reply = require "sendpulse.sandbox.reply"

local ipairs, pairs, tonumber, format, concat = ipairs, pairs, tonumber, string.format, table.concat
local esc, BASE = html.esc, html.BASE

local _M = {}

-- The fault kinds the form offers, as the control API's fault objects.
_M.PRESETS = {
  { "delay", "delay (answer late)", { kind = "delay" } },
  { "429", "429 (rate limited)", { kind = "status", status = 429,
    body = '{"message":"Too Many Requests","error_code":429}', headers = { ["Retry-After"] = "1" } } },
  { "500", "500 (an nginx error page)", { kind = "html500" } },
  { "drop", "drop (close without an answer)", { kind = "drop" } },
  { "unauthorized", "unauthorized (401)", { kind = "unauthorized" } },
  { "malformed", "malformed (half the JSON)", { kind = "malformed" } },
}

local function field(id, label, input)
  return format('<p><label for="%s">%s</label> %s</p>', id, esc(label), input)
end

-- GET /_sandbox/ui/control[?done=...]
function _M.page(ctx)
  local server, token = ctx.server, ctx.server.ui_token
  local done = ctx.query.done
  local faults = {}
  for i, f in ipairs(server.faults.list) do
    faults[i] = { esc(f.id), esc(f.kind), esc(f.status), '<code>' .. esc(f.path or "any") .. '</code>',
                  esc(f.method or "any"), esc(f.count == -1 and "until reset" or f.count), esc(f.delay) }
  end
  local kinds = {}
  for i, p in ipairs(_M.PRESETS) do kinds[i] = format('<option value="%s">%s</option>', p[1], esc(p[2])) end
  local now = server.state:now(ctx.now)
  return html.page("Control", "control", {
    done and ('<p class="done" role="status">' .. esc(done) .. '</p>') or "",
    '<p class="note">These forms do what the control API does (POST /_sandbox/reset, /_sandbox/clock, '
      .. '/_sandbox/faults). They need the token the sandbox printed at start, which this page carries; '
      .. 'a page of another origin cannot use them.</p>',
    '<section id="reset" aria-labelledby="reset-h"><h2 id="reset-h">Reset</h2>',
    '<p>Back to the start configuration: no tokens, lists, messages, faults or log.</p>',
    html.form(BASE .. "/control/reset", token, "", "Reset the sandbox"), '</section>',
    '<section id="clock" aria-labelledby="clock-h"><h2 id="clock-h">Clock</h2>',
    format('<p>Sandbox time: %s (offset %s s). It moves the 711, 791 and 1004 rules; tokens and the rate limit '
      .. 'keep real time.</p>', esc(html.time(now)), esc(server.state.clock_offset)),
    html.form(BASE .. "/control/clock", token,
      field("advance", "Advance by (seconds)", '<input id="advance" name="advance" type="number" min="0" step="any" '
        .. 'value="900" required>'), "Advance the clock"),
    '</section>',
    '<section id="faults" aria-labelledby="faults-h"><h2 id="faults-h">Faults</h2>',
    html.table("Queued faults", { "Id", "Kind", "Status", "Path pattern", "Method", "Uses left", "Delay (s)" },
      faults, { empty = "No fault queued." }),
    html.form(BASE .. "/control/faults", token, concat {
      field("kind", "Kind", '<select id="kind" name="kind">' .. concat(kinds) .. '</select>'),
      field("path", "Path (a Lua pattern; empty: any)", '<input id="path" name="path" type="text">'),
      field("method", "Method (empty: any)", '<input id="method" name="method" type="text">'),
      field("count", "Uses (-1: until reset)", '<input id="count" name="count" type="number" value="1">'),
      field("delay", "Delay (seconds)", '<input id="delay" name="delay" type="number" min="0" step="any" value="0">'),
    }, "Queue the fault"),
    html.form(BASE .. "/control/faults/clear", token, "", "Clear every fault"),
    '</section>',
  })
end

local function back(message)
  return html.redirect(BASE .. "/control" .. html.query { { "done", message } })
end

local function failed(message)
  return html.page("Not done", "control", format('<p role="alert">%s</p><p><a href="%s/control">Back</a></p>',
    esc(message), BASE), { status = 400 })
end

function _M.reset(ctx)
  ctx.server:reset()
  return back("The sandbox was reset.")
end

function _M.clock(ctx)
  local s = tonumber(reply.params(ctx.req).advance)
  if not s or s ~= s or s < 0 or s > 10 * 365 * 86400 then
    return failed("advance must be a number of seconds >= 0")
  end
  ctx.state:advance_clock(s)
  return back(format("The clock moved %g s.", s))
end

function _M.add_fault(ctx)
  local p = reply.params(ctx.req)
  local spec
  for _, preset in ipairs(_M.PRESETS) do
    if preset[1] == p.kind then
      spec = {}
      for k, v in pairs(preset[3]) do spec[k] = v end
    end
  end
  if not spec then return failed("kind must be one of the listed kinds") end
  if p.path and p.path ~= "" then spec.path = p.path end
  if p.method and p.method ~= "" then spec.method = p.method end
  spec.count = tonumber(p.count) or 1
  local delay = tonumber(p.delay) or 0
  if delay > 0 or spec.kind == "delay" then spec.delay = delay end
  local fault, err = ctx.server.faults:add(spec)
  if not fault then return failed(err) end
  return back(format("Fault %d (%s) queued.", fault.id, p.kind))
end

function _M.clear_faults(ctx)
  ctx.server.faults:clear()
  return back("Every fault was cleared.")
end

return _M
