-- The contract of SendPulse's OpenAPI files, as extracted into
-- spec/contract/openapi/ (see the README there): what the generators and the
-- contract test read instead of the files themselves.
--
--   local openapi = require "contract.openapi"
--   openapi.stems()                  -- { "a360", "bulk-email", ... }
--   openapi.load("bulk-email")       -- the extracted tree: paths, components, ...
--   openapi.document("bulk-email")   -- a valid OpenAPI 3.1 document of it (for prism)
--   openapi.sources()                -- provenance: repository, commit, dates, files
--
-- In a loaded tree JSON's null is `openapi.null`, and every JSON array
-- (empty ones included) carries the metatable `openapi.ARRAY`, whose
-- `__jsontype = "array"` is what JSON encoders (ours, dkjson) look for. Map
-- keys are strings, as in JSON. Works on Lua 5.1 to 5.4 and LuaJIT.

local type, pairs, ipairs, tostring, setmetatable, getmetatable, error =
      type, pairs, ipairs, tostring, setmetatable, getmetatable, error
local loadfile, setfenv = loadfile, rawget(_G, "setfenv")
local format, sort = string.format, table.sort

local _M = {}

_M.null = setmetatable({}, { __tostring = function() return "null" end })
_M.ARRAY = { __jsontype = "array" }

local function array(t) return setmetatable(t, _M.ARRAY) end
_M.array = array

-- The repository's root, from this file's place (spec/contract/openapi.lua).
local function root()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/contract/[^/]*$")
  if dir == nil or dir == "" then dir = "." end
  return dir
end

--- The folder of the extraction (spec/contract/openapi).
function _M.dir()
  return root() .. "/spec/contract/openapi"
end

-- Runs one data file of the folder with `null` and `array` defined (and
-- nothing else: the files are data).
local function run(name)
  local path = _M.dir() .. "/" .. name .. ".lua"
  local env = { null = _M.null, array = array }
  local chunk, err
  if setfenv then
    chunk, err = loadfile(path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = loadfile(path, "t", env)
  end
  if not chunk then error("contract.openapi: " .. tostring(err), 0) end
  return chunk()
end

-- Non-empty tables whose keys are 1..n are arrays (map keys are strings).
local function mark_arrays(v)
  if type(v) ~= "table" or v == _M.null then return end
  if v[1] ~= nil and getmetatable(v) == nil then setmetatable(v, _M.ARRAY) end
  for _, x in pairs(v) do mark_arrays(x) end
end

--- The provenance record (spec/contract/openapi/sources.lua).
function _M.sources()
  return run("sources")
end

--- The stems of the extracted files ("bulk-email" for
-- sendpulse-bulk-email-openapi.yml), sorted.
function _M.stems()
  local out = {}
  for stem in pairs(_M.sources().files) do out[#out + 1] = stem end
  sort(out)
  return out
end

--- The extracted tree of one file (a fresh copy on every call).
function _M.load(stem)
  if type(stem) ~= "string" or not stem:match("^[%w-]+$") then
    error(format("contract.openapi.load: argument 'stem' must be a file stem such as \"bulk-email\", got %s",
      tostring(stem)), 2)
  end
  local tree = run(stem)
  mark_arrays(tree)
  return tree
end

---------------------------------------------------------------------------
-- A valid OpenAPI document from the extraction

local function copy(v, null)
  if v == _M.null then return null end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x, null) end
  return setmetatable(out, getmetatable(v))
end

local METHODS = { "get", "put", "post", "delete", "patch", "head", "options", "trace" }

-- Every response object of the tree (operations' and components').
local function each_response(doc, fn)
  for _, item in pairs(doc.paths or {}) do
    for _, m in ipairs(METHODS) do
      local op = item[m]
      if type(op) == "table" then
        for _, r in pairs(op.responses or {}) do fn(r) end
      end
    end
  end
  for _, r in pairs(doc.components and doc.components.responses or {}) do fn(r) end
end

-- The security schemes the document uses.
local function used_schemes(doc)
  local used = {}
  local function add(list)
    for _, req in ipairs(list or {}) do
      for name in pairs(req) do used[name] = true end
    end
  end
  add(doc.security)
  for _, item in pairs(doc.paths or {}) do
    for _, m in ipairs(METHODS) do
      if type(item[m]) == "table" then add(item[m].security) end
    end
  end
  return used
end

-- The repairs a file needs before a tool can read it, each a known defect
-- (spec/contract/defects.lua lists which file needs which). Each is applied
-- to `doc` and returns what it did (true, or the names it defined), or nil
-- when the file does not need it.
local REPAIRS = {
  -- refers to #/components/schemas/Error without defining it
  missing_error_schema = function(doc)
    local schemas = doc.components and doc.components.schemas
    if not schemas or schemas.Error ~= nil then return nil end
    local found = false
    local function scan(v)
      if type(v) ~= "table" or found then return end
      if v["$ref"] == "#/components/schemas/Error" then found = true return end
      for _, x in pairs(v) do scan(x) end
    end
    scan(doc.paths)
    scan(doc.components)
    if not found then return nil end
    schemas.Error = { type = "object", properties = {
      message = { type = "string" }, error_code = { type = "integer" } } }
    return true
  end,
  -- uses security schemes it never defines: SendPulse checks a bearer token
  undefined_security_schemes = function(doc)
    doc.components = doc.components or {}
    local defined = doc.components.securitySchemes or {}
    local added = {}
    for name in pairs(used_schemes(doc)) do
      if defined[name] == nil then
        defined[name] = { type = "http", scheme = "bearer" }
        added[#added + 1] = name
      end
    end
    if #added == 0 then return nil end
    doc.components.securitySchemes = defined
    sort(added)
    return added
  end,
}

--- A valid OpenAPI 3.1 document holding the extracted contract of `stem`:
-- every response gets the `description` OpenAPI requires (empty: the
-- extraction keeps no prose), and the file defects that make a document
-- unreadable are repaired (see REPAIRS). `opts.null` is what JSON's null
-- becomes (default: openapi.null), e.g. the JSON encoder's null.
-- Returns the document and the repairs applied: name -> what each did.
function _M.document(stem, opts)
  opts = opts or {}
  local doc = copy(_M.load(stem), opts.null == nil and _M.null or opts.null)
  each_response(doc, function(r)
    if type(r) == "table" and r["$ref"] == nil and r.description == nil then r.description = "" end
  end)
  doc.info = doc.info or {}
  doc.info.title = doc.info.title or stem
  doc.info.version = doc.info.version or "0"
  local applied = {}
  for name, repair in pairs(REPAIRS) do applied[name] = repair(doc) end
  return doc, applied
end

_M.METHODS = METHODS

return _M
