-- Helpers of the contract test: patched copies of SendPulse's OpenAPI files
-- that `prism mock` accepts, and prism processes on loopback.
--
-- The copies differ from ../shared/sendpulse-openapi only where prism could not
-- otherwise check the files as SendPulse serves them:
--   * every path gets its service's base path (/telegram, /crm/v1, ...): prism
--     ignores the path of the `servers` URL, and the client sends the full path;
--   * the bulk-email file's missing #/components/schemas/Error is added
--     ({message: string, error_code: integer});
--   * security schemes used but never defined (the chatbot files require
--     `oAuth2ClientCredentials`, every file's top level `oauth2`) are defined as
--     HTTP bearer, which is what SendPulse checks; otherwise prism answers 401
--     to every call.
-- The originals are never written.

local lyaml = require "lyaml"

local _M = {}

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

_M.read_file = read_file

-- The repository's root, from this file's place (spec/contract/prism.lua).
function _M.root()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/contract/[^/]*$")
  if dir == nil or dir == "" then dir = "." end
  return dir
end

function _M.openapi_dir()
  return os.getenv("SP_OPENAPI_DIR") or (_M.root() .. "/../shared/sendpulse-openapi")
end

function _M.prism_bin()
  return os.getenv("SP_PRISM") or (_M.root() .. "/build/prism/node_modules/.bin/prism")
end

local function split_lines(text)
  local lines = {}
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  return lines
end

-- Returns the patched text of one OpenAPI file, and a list of what was changed.
function _M.patch(text, base)
  local doc = lyaml.load(text)
  local notes = {}
  local lines = split_lines(text)

  -- which security schemes are used and not defined
  local defined = doc.components and doc.components.securitySchemes or {}
  local used = {}
  local function add(sec)
    for _, req in ipairs(sec or {}) do
      for name in pairs(req) do used[name] = true end
    end
  end
  add(doc.security)
  for _, item in pairs(doc.paths or {}) do
    for _, op in pairs(item) do
      if type(op) == "table" and op.responses then add(op.security) end
    end
  end
  local missing_schemes = {}
  for name in pairs(used) do
    if defined[name] == nil then missing_schemes[#missing_schemes + 1] = name end
  end
  table.sort(missing_schemes)

  local needs_error = text:find("#/components/schemas/Error'", 1, true)
    and not (doc.components and doc.components.schemas and doc.components.schemas.Error)

  local out = {}
  local section
  local prefixed = 0
  for _, line in ipairs(lines) do
    local top = line:match("^([%w_-]+):")
    if top then section = top end
    local sub = line:match("^  ([%w_-]+):%s*$")
    if section == "paths" and base ~= "" then
      local q, p, rest = line:match("^  (['\"]?)(/[^'\"]*)%1(:.*)$")
      if p then
        line = "  " .. q .. base .. p .. q .. rest
        prefixed = prefixed + 1
      end
    end
    out[#out + 1] = line
    if section == "components" and sub == "schemas" and needs_error then
      out[#out + 1] = "    Error:"
      out[#out + 1] = "      type: object"
      out[#out + 1] = "      properties:"
      out[#out + 1] = "        message:"
      out[#out + 1] = "          type: string"
      out[#out + 1] = "        error_code:"
      out[#out + 1] = "          type: integer"
      notes[#notes + 1] = "added components/schemas/Error"
      needs_error = false
    end
    if section == "components" and sub == "securitySchemes" and #missing_schemes > 0 then
      for _, name in ipairs(missing_schemes) do
        out[#out + 1] = "    " .. name .. ":"
        out[#out + 1] = "      type: http"
        out[#out + 1] = "      scheme: bearer"
        notes[#notes + 1] = "defined security scheme " .. name .. " as HTTP bearer"
      end
      missing_schemes = {}
    end
  end
  if needs_error then error("no components/schemas section to add Error to") end
  if #missing_schemes > 0 then error("no components/securitySchemes section") end
  if prefixed > 0 then notes[#notes + 1] = ("prefixed %d paths with %s"):format(prefixed, base) end
  return table.concat(out, "\n") .. "\n", notes
end

-- Writes the patched copy of a service's file into dir; returns its path.
function _M.prepare(service_source, base, dir)
  local src = _M.openapi_dir() .. "/" .. service_source
  local text = assert(read_file(src), "cannot read " .. src)
  local patched, notes = _M.patch(text, base)
  os.execute('mkdir -p "' .. dir .. '"')
  local dst = dir .. "/" .. service_source
  write_file(dst, patched)
  return dst, notes
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Starts `prism mock` in the background; returns a handle {pid=, port=, log=}.
function _M.start(file, port, log)
  local cmd = ("%s mock --host 127.0.0.1 --port %d %s >%s 2>&1 & echo $!"):format(
    shell_quote(_M.prism_bin()), port, shell_quote(file), shell_quote(log))
  local p = assert(io.popen(cmd))
  local pid = tonumber(p:read("*l"))
  p:close()
  assert(pid, "could not start prism")
  return { pid = pid, port = port, log = log, file = file }
end

-- A loopback port that is free now (the kernel's choice).
function _M.free_port()
  local socket = require "socket"
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return tonumber(port)
end

-- Starts prism on a free port, trying another when the port was taken in
-- between; returns the handle once prism listens, or nil, message.
function _M.start_listening(file, log, timeout)
  local last
  for _ = 1, 5 do
    local h = _M.start(file, _M.free_port(), log)
    local ok, err = _M.wait(h, timeout)
    if ok then return h end
    _M.stop(h)
    last = err
    if not tostring(err):find("EADDRINUSE", 1, true) then break end
  end
  return nil, last
end

-- Waits until prism says it listens (or dies, or the time is up).
function _M.wait(h, timeout)
  local socket = require "socket"
  local deadline = socket.gettime() + (timeout or 60)
  while socket.gettime() < deadline do
    local text = read_file(h.log) or ""
    if text:find("Prism is listening", 1, true) then return true end
    if not _M.alive(h) then return nil, "prism exited:\n" .. text end
    socket.sleep(0.2)
  end
  return nil, "prism did not start in time:\n" .. (read_file(h.log) or "")
end

local function run(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0   -- Lua 5.2+ / Lua 5.1 and LuaJIT
end

function _M.alive(h)
  return run("kill -0 " .. h.pid .. " 2>/dev/null")
end

-- Stops one prism process (the one this module started, by its pid).
function _M.stop(h)
  if h and h.pid and _M.alive(h) then
    os.execute("kill " .. h.pid .. " 2>/dev/null")
    local socket = require "socket"
    for _ = 1, 50 do
      if not _M.alive(h) then break end
      socket.sleep(0.1)
    end
    if _M.alive(h) then os.execute("kill -9 " .. h.pid .. " 2>/dev/null") end
  end
end

-- The request violations named in an `sl-violations` header (JSON array);
-- violations of prism's own answer (location "response") are not ours.
function _M.request_violations(header)
  if not header or header == "" then return {} end
  local cjson = require "cjson.safe"
  local list = cjson.decode(header)
  if type(list) ~= "table" then return { { message = "unparsable sl-violations: " .. header } } end
  local out = {}
  for _, v in ipairs(list) do
    local loc = type(v.location) == "table" and v.location or {}
    if loc[1] ~= "response" and (v.severity == nil or v.severity == "Error") then
      out[#out + 1] = v
    end
  end
  return out
end

return _M
