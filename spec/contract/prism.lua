-- Helpers of the contract test: the OpenAPI documents `prism mock` checks
-- requests against, and prism processes on loopback.
--
-- A document is the contract extracted from SendPulse's file
-- (spec/contract/openapi/, rebuilt as valid OpenAPI by contract.openapi,
-- which also repairs the defects that keep a tool from reading a file: the
-- bulk-email file's missing Error schema, security schemes used but never
-- defined), written as JSON, with one change for prism: every path gets its
-- service's base path (/telegram, /crm/v1, ...), because prism ignores the
-- path of the `servers` URL and the client sends the full path.

local openapi = require "contract.openapi"

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

function _M.prism_bin()
  return os.getenv("SP_PRISM") or (_M.root() .. "/build/prism/node_modules/.bin/prism")
end

--- The document prism is given for one file (a table): the rebuilt contract
-- with `base` put in front of every path. Also returns the repairs applied.
function _M.document(stem, base)
  local json = require "sendpulse.json"
  local doc, repairs = openapi.document(stem, { null = json.null })
  if base ~= "" then
    local prefixed = {}
    for path, item in pairs(doc.paths) do prefixed[base .. path] = item end
    doc.paths = prefixed
  end
  return doc, repairs
end

--- Writes the document of one file into dir as <stem>.json; returns its
-- path and the repairs applied.
function _M.prepare(stem, base, dir)
  local json = require "sendpulse.json"
  local doc, repairs = _M.document(stem, base)
  os.execute('mkdir -p "' .. dir .. '"')
  local dst = dir .. "/" .. stem .. ".json"
  write_file(dst, json.encode(doc))
  return dst, repairs
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
_M.free_port = require("support.sys").free_port

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
