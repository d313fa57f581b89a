#!/usr/bin/env lua
-- Extracts the contract from SendPulse's OpenAPI files into
-- spec/contract/openapi/, the data the generators and the contract test read
-- (the repository carries these facts, not the files: they are full of other
-- people's prose).
--
--   lua5.4 spec/tools/extract_contract.lua --commit 9fa7cb8 --dated 2026-08-22 DIR
--   lua5.4 spec/tools/extract_contract.lua --check DIR
--
-- DIR holds the files sendpulse-<stem>-openapi.yml of the repository
-- api-evangelist/sendpulse (folder openapi/); --commit and --dated name the
-- commit they come from and its date. Writes spec/contract/openapi/<stem>.lua
-- for every file with paths, and sources.lua (where they came from, when they
-- were taken, each file's SHA-256, and the stray keys dropped). --check
-- extracts in memory and exits 1, naming the files, when the committed
-- extraction differs (the date taken aside).
--
-- Kept: paths, methods, operationIds, the operations' `summary` titles,
-- `deprecated`, parameters (name, location, required, style, schema,
-- examples), request bodies and answers (content types, schemas, examples,
-- headers), components, security requirements and schemes, servers, the
-- title and version of the file. Examples, defaults and enums are kept
-- verbatim: they are data. Dropped: every `description`, `title` and other
-- prose (tags, externalDocs, license, contact, the summaries of examples and
-- path items, the descriptions of OAuth scopes), and every `x-*` key.
-- Keys that are neither OpenAPI/JSON Schema keywords nor known prose (a
-- property indented one level too far, `OneOf` for `oneOf`) are dropped too
-- and listed in sources.lua: they are defects of the files.
--
-- YAML is read as YAML 1.2 (OpenAPI 3.1's): `on`/`off`/`yes`/`no` are
-- strings, `012` is 12; map keys stay the strings they are in the file.
-- Needs lua-yaml (Debian: lua-yaml) and sha256sum.

local type, pairs, ipairs, tostring, tonumber, error, setmetatable, getmetatable =
      type, pairs, ipairs, tostring, tonumber, error, setmetatable, getmetatable
local format, concat, sort = string.format, table.concat, table.sort

local function script_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then return src:sub(2):match("^(.*)/[^/]*$") or "." end
  return "."
end
local ROOT = script_dir() .. "/../.."
package.path = ROOT .. "/spec/?.lua;" .. package.path

local luadata = require "tools.luadata"
local openapi = require "contract.openapi"

local _M = {}

-- Stops extraction: main reports it and exits 2.
local function fail(fmt, ...)
  error("extract_contract: " .. format(fmt, ...), 0)
end

---------------------------------------------------------------------------
-- YAML 1.2 reading, with JSON's distinctions kept: null, [] versus {}

local NULL, array = openapi.null, openapi.array

-- A plain (unquoted) scalar as YAML 1.2's core schema reads it. lyaml's
-- default is YAML 1.1, where on/off/yes/no are booleans and 012 is octal:
-- an enum [on, off] would come out as [true, false].
function _M.core_scalar(v)
  if v == "" or v == "~" or v == "null" or v == "Null" or v == "NULL" then return NULL end
  if v == "true" or v == "True" or v == "TRUE" then return true end
  if v == "false" or v == "False" or v == "FALSE" then return false end
  if v:match("^[-+]?%d+$") then return math.tointeger(tonumber(v)) or tonumber(v) end
  if v:match("^0o[0-7]+$") then return math.tointeger(tonumber(v:sub(3), 8)) end
  if v:match("^0x%x+$") then return math.tointeger(tonumber(v:sub(3), 16)) end
  if v:match("^[-+]?%.%d+$") or v:match("^[-+]?%d+%.?%d*$") or v:match("^[-+]?%.?%d+[eE][-+]?%d+$")
      or v:match("^[-+]?%d+%.%d*[eE][-+]?%d+$") then
    return tonumber(v)
  end
  if v == ".inf" or v == ".Inf" or v == ".INF" or v == "+.inf" then return math.huge end
  if v == "-.inf" or v == "-.Inf" or v == "-.INF" then return -math.huge end
  if v == ".nan" or v == ".NaN" or v == ".NAN" then return 0 / 0 end
  return v
end

local EXPLICIT = {
  ["tag:yaml.org,2002:str"] = function(v) return v end,
  ["tag:yaml.org,2002:int"] = function(v) return math.tointeger(tonumber(v)) end,
  ["tag:yaml.org,2002:float"] = function(v) return tonumber(v) + 0.0 end,
  ["tag:yaml.org,2002:bool"] = function(v) return v == "true" end,
  ["tag:yaml.org,2002:null"] = function() return NULL end,
}

--- Reads one YAML document: mappings become tables with string keys,
-- sequences tables marked as arrays, null `openapi.null`.
function _M.read_yaml(text)
  local yaml = require "yaml"
  local next_event = yaml.parser(text)
  local anchors = {}
  local node
  local function event()
    local ok, ev = pcall(next_event)
    if not ok then fail("YAML: %s", tostring(ev)) end
    return ev
  end
  local function value(ev)
    local v
    if ev.type == "SCALAR" then
      if ev.tag and EXPLICIT[ev.tag] then v = EXPLICIT[ev.tag](ev.value)
      elseif ev.style == "PLAIN" then v = _M.core_scalar(ev.value)
      else v = ev.value end
    elseif ev.type == "ALIAS" then
      v = anchors[ev.anchor]
      if v == nil then fail("YAML: unknown alias *%s", tostring(ev.anchor)) end
      return v
    elseif ev.type == "SEQUENCE_START" then
      v = array({})
      if ev.anchor then anchors[ev.anchor] = v end
      while true do
        local x = node()
        if x == nil then break end
        v[#v + 1] = x
      end
      return v
    elseif ev.type == "MAPPING_START" then
      v = {}
      if ev.anchor then anchors[ev.anchor] = v end
      while true do
        local kev = event()
        if kev.type == "MAPPING_END" then break end
        if kev.type ~= "SCALAR" then fail("YAML: only scalar mapping keys are supported") end
        if kev.value == "<<" then fail("YAML: merge keys (<<) are not supported") end
        v[kev.value] = node()
      end
      return v
    else
      return nil   -- SEQUENCE_END, DOCUMENT_END
    end
    if ev.anchor then anchors[ev.anchor] = v end
    return v
  end
  function node() return value(event()) end
  local ev = event()
  if ev.type ~= "STREAM_START" then fail("YAML: no stream") end
  ev = event()
  if ev.type ~= "DOCUMENT_START" then fail("YAML: no document") end
  return node()
end

---------------------------------------------------------------------------
-- What is kept, by the kind of node

-- Keys that are prose or annotations wherever they appear (besides x-*).
local PROSE = { description = true, title = true, summary = true, tags = true, externalDocs = true,
  license = true, contact = true, termsOfService = true, ["$comment"] = true }

local V = "value"   -- kept verbatim: data (examples, enums, defaults, flags)

local METHOD_KINDS = {}
for _, m in ipairs(openapi.METHODS) do METHOD_KINDS[m] = "operation" end

local SCHEMA = {
  ["$ref"] = V, ["$schema"] = V, ["$id"] = V, ["$anchor"] = V, type = V, format = V, enum = V, const = V,
  default = V, example = V, examples = V, required = V, nullable = V, readOnly = V, writeOnly = V,
  deprecated = V, minimum = V, maximum = V, exclusiveMinimum = V, exclusiveMaximum = V, multipleOf = V,
  minLength = V, maxLength = V, pattern = V, minItems = V, maxItems = V, uniqueItems = V,
  minContains = V, maxContains = V, minProperties = V, maxProperties = V, contentEncoding = V,
  contentMediaType = V, discriminator = V, dependentRequired = V, xml = V,
  properties = "schemas", patternProperties = "schemas", ["$defs"] = "schemas", dependentSchemas = "schemas",
  items = "schema", additionalItems = "schema", ["not"] = "schema", propertyNames = "schema",
  contains = "schema", ["if"] = "schema", ["then"] = "schema", ["else"] = "schema",
  unevaluatedItems = "schema", unevaluatedProperties = "schema", additionalProperties = "schema",
  contentSchema = "schema",
  allOf = "schema_list", oneOf = "schema_list", anyOf = "schema_list", prefixItems = "schema_list",
}

local KINDS = {
  root = { openapi = V, info = "info", servers = "server_list", paths = "paths",
    components = "components", security = V, jsonSchemaDialect = V },
  info = { version = V, title = V },
  server_list = "list:server",
  server = { url = V, variables = "names:server_variable" },
  server_variable = { default = V, enum = V },
  paths = "ext:path_item",
  path_item = setmetatable({ ["$ref"] = V, parameters = "list:parameter", servers = "server_list" },
    { __index = METHOD_KINDS }),
  operation = { operationId = V, summary = V, deprecated = V, parameters = "list:parameter",
    requestBody = "request_body", responses = "ext:response", security = V, servers = "server_list",
    callbacks = "names:callback" },
  callback = "ext:path_item",
  parameter = { ["$ref"] = V, name = V, ["in"] = V, required = V, deprecated = V, allowEmptyValue = V,
    style = V, explode = V, allowReserved = V, schema = "schema", example = V,
    examples = "names:example", content = "names:media" },
  header = { ["$ref"] = V, required = V, deprecated = V, style = V, explode = V, schema = "schema",
    example = V, examples = "names:example", content = "names:media" },
  request_body = { ["$ref"] = V, required = V, content = "names:media" },
  media = { schema = "schema", example = V, examples = "names:example", encoding = "names:encoding" },
  encoding = { contentType = V, headers = "names:header", style = V, explode = V, allowReserved = V },
  example = { ["$ref"] = V, value = V, externalValue = V },
  response = { ["$ref"] = V, content = "names:media", headers = "names:header", links = "names:link" },
  link = { ["$ref"] = V, operationRef = V, operationId = V, parameters = V, requestBody = V },
  components = { schemas = "schemas", parameters = "names:parameter", requestBodies = "names:request_body",
    responses = "names:response", examples = "names:example", headers = "names:header",
    securitySchemes = "names:security_scheme", links = "names:link", callbacks = "names:callback",
    pathItems = "names:path_item" },
  security_scheme = { type = V, scheme = V, bearerFormat = V, ["in"] = V, name = V, openIdConnectUrl = V,
    flows = "flows" },
  flows = { implicit = "flow", password = "flow", clientCredentials = "flow", authorizationCode = "flow" },
  flow = { authorizationUrl = V, tokenUrl = V, refreshUrl = V, scopes = "scopes" },
  schemas = "names:schema",
  schema = SCHEMA,
  schema_list = "list:schema",
}

-- JSON-pointer segment
local function seg(k)
  return (tostring(k):gsub("~", "~0"):gsub("/", "~1"))
end

-- Copies `node` of kind `kind`, keeping what KINDS allows; stray keys are
-- reported through `stray(pointer)`.
local function keep(node, kind, where, stray)
  if kind == "scopes" then
    -- scope name -> its description (prose): the names stay, the text goes
    local out = {}
    for k in pairs(node) do out[k] = "" end
    return out
  end
  local spec = KINDS[kind] or (kind:find(":", 1, true) and kind) or fail("no kind %s at %s", kind, where)
  if type(spec) == "string" then
    local how, child = spec:match("^(%a+):([%w_]+)$")
    if type(node) ~= "table" then return node end
    local out = how == "list" and array({}) or {}
    for k, v in pairs(node) do
      if not (how == "ext" and type(k) == "string" and k:sub(1, 2) == "x-") then
        out[k] = keep(v, child, where .. "/" .. seg(k), stray)
      end
    end
    return out
  end
  if type(node) ~= "table" then return node end   -- `items: true` and the like
  local out = {}
  for k, v in pairs(node) do
    local child = spec[k]
    if child == V then
      out[k] = v
    elseif child then
      out[k] = keep(v, child, where .. "/" .. seg(k), stray)
    elseif not (PROSE[k] or (type(k) == "string" and k:sub(1, 2) == "x-")) then
      stray(where .. "/" .. seg(k))
    end
  end
  return out
end

--- The contract of one parsed file, and the sorted list of the stray keys
-- dropped from it (JSON pointers).
function _M.extract(tree)
  local strays = {}
  local out = keep(tree, "root", "", function(p) strays[#strays + 1] = p end)
  sort(strays)
  return out, strays
end

local function count_operations(tree)
  local n = 0
  for _, item in pairs(tree.paths or {}) do
    for _, m in ipairs(openapi.METHODS) do
      if type(item[m]) == "table" then n = n + 1 end
    end
  end
  return n
end

---------------------------------------------------------------------------
-- files

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, data)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  assert(f:write(data))
  assert(f:close())
  assert(os.rename(tmp, path))
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function sha256(path)
  local p = assert(io.popen("sha256sum " .. shell_quote(path)))
  local line = p:read("l") or ""
  p:close()
  local sum = line:match("^(%x+)")
  if not sum then fail("sha256sum failed on %s", path) end
  return sum
end

local function is_array(t) return getmetatable(t) == openapi.ARRAY end

local function data_file(text_of_header, value)
  return text_of_header .. "return " .. luadata.write(value, { null = NULL, is_array = is_array, width = 100 }) .. "\n"
end

--- The text of spec/contract/openapi/<stem>.lua for one file.
function _M.contract_file(file, provenance, contract)
  return data_file(concat({
    "-- generated by spec/tools/extract_contract.lua from " .. file .. "; do not edit.",
    "-- " .. provenance .. ": the contract only (see README.md here).",
    "-- `null` is JSON's null, `array{}` an empty JSON array.",
    "-- luacheck: ignore",
    "", }, "\n"), contract)
end

local function sources_file(sources)
  return data_file(concat({
    "-- generated by spec/tools/extract_contract.lua; do not edit.",
    "-- Where the extracted files came from: repository, folder, commit and its date,",
    "-- the day they were taken, and per file its SHA-256, its operations and the",
    "-- stray keys dropped (not OpenAPI or JSON Schema keywords: defects of the file).",
    "-- luacheck: ignore",
    "", }, "\n"), sources)
end

--- Extracts every sendpulse-<stem>-openapi.yml of `dir`. Returns the files
-- to write (path relative to the repository -> text) and the sources record.
function _M.run(dir, meta)
  local p = assert(io.popen("ls " .. shell_quote(dir)))
  local names = {}
  for f in p:lines() do
    if f:match("^sendpulse%-[%w-]+%-openapi%.yml$") then names[#names + 1] = f end
  end
  p:close()
  sort(names)
  if #names == 0 then fail("no sendpulse-*-openapi.yml in %s", dir) end
  local sources = {
    repository = meta.repository, folder = meta.folder, commit = meta.commit, dated = meta.dated,
    taken = meta.taken, files = {},
  }
  local provenance = ("%s %s/ at %s (%s)"):format(meta.repository, meta.folder, meta.commit, meta.dated)
  local files = {}
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    local text = read_file(path) or fail("cannot read %s", path)
    local tree = _M.read_yaml(text)
    local n = count_operations(tree)
    if n > 0 then
      local stem = name:match("^sendpulse%-([%w-]+)%-openapi%.yml$")
      local contract, strays = _M.extract(tree)
      files["spec/contract/openapi/" .. stem .. ".lua"] = _M.contract_file(name, provenance, contract)
      sources.files[stem] = { file = name, sha256 = sha256(path), operations = n,
        stray_keys = #strays > 0 and strays or nil }
    end
  end
  files["spec/contract/openapi/sources.lua"] = sources_file(sources)
  return files, sources
end

local function usage()
  io.stderr:write("usage: lua5.4 spec/tools/extract_contract.lua --commit SHA --dated YYYY-MM-DD DIR\n",
    "       lua5.4 spec/tools/extract_contract.lua --check DIR\n")
  os.exit(2)
end

local function main(argv)
  local check, dir, meta = false, nil, {
    repository = "api-evangelist/sendpulse", folder = "openapi", taken = os.date("!%Y-%m-%d") }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--check" then check = true
    elseif a == "--commit" then i = i + 1; meta.commit = argv[i]
    elseif a == "--dated" then i = i + 1; meta.dated = argv[i]
    elseif a == "--repository" then i = i + 1; meta.repository = argv[i]
    elseif a == "-h" or a == "--help" or a:sub(1, 1) == "-" then usage()
    else dir = a end
    i = i + 1
  end
  if not dir then usage() end
  if check then
    -- compare with what is committed: same commit and dates
    local old = openapi.sources()
    meta.repository, meta.folder, meta.commit = old.repository, old.folder, old.commit
    meta.dated, meta.taken = old.dated, old.taken
  elseif not (meta.commit and meta.commit:match("^%x+$") and meta.dated and meta.dated:match("^%d%d%d%d%-%d%d%-%d%d$"))
  then
    io.stderr:write("extract_contract: --commit (hex) and --dated (YYYY-MM-DD) name where DIR's files come from\n")
    usage()
  end
  local files, sources = _M.run(dir, meta)
  local rels = luadata.sorted_keys(files)
  -- extracted files whose source is no longer in DIR
  local stale = {}
  local p = assert(io.popen("ls " .. shell_quote(ROOT .. "/spec/contract/openapi")))
  for f in p:lines() do
    local rel = "spec/contract/openapi/" .. f
    if f:match("%.lua$") and not files[rel]
        and (read_file(ROOT .. "/" .. rel) or ""):find("generated by spec/tools/extract_contract.lua", 1, true) then
      stale[#stale + 1] = rel
    end
  end
  p:close()
  local ops = 0
  for _, f in pairs(sources.files) do ops = ops + f.operations end
  if check then
    local bad = {}
    for _, rel in ipairs(rels) do
      if read_file(ROOT .. "/" .. rel) ~= files[rel] then bad[#bad + 1] = rel end
    end
    for _, rel in ipairs(stale) do bad[#bad + 1] = rel .. " (no longer in " .. dir .. ")" end
    if #bad > 0 then
      io.stderr:write("extract_contract: differs from ", dir, ":\n")
      for _, f in ipairs(bad) do io.stderr:write("  ", f, "\n") end
      os.exit(1)
    end
    print(("extract_contract: %d files match %s, %d operations"):format(#rels, dir, ops))
    return
  end
  os.execute("mkdir -p " .. shell_quote(ROOT .. "/spec/contract/openapi"))
  for _, rel in ipairs(rels) do write_file(ROOT .. "/" .. rel, files[rel]) end
  for _, rel in ipairs(stale) do assert(os.remove(ROOT .. "/" .. rel)) end
  print(("extract_contract: wrote %d files, %d operations"):format(#rels, ops))
end

if ... == "tools.extract_contract" then return _M end

local ok, err = pcall(main, arg or {})
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end
