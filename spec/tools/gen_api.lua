#!/usr/bin/env lua
-- Generates the operation tables of lua-sendpulse from SendPulse's OpenAPI files.
--
--   lua5.4 spec/tools/gen_api.lua [--check]
--
-- Reads the contract extracted from the files (spec/contract/openapi/, see
-- spec/tools/extract_contract.lua) and writes:
--   lua/sendpulse/api/<service>.lua   one pure data table per service
--   lua/sendpulse/api/init.lua        the list of services and their base paths
--   lua/sendpulse/api/REFERENCE.md    the reference of every operation
-- The calls the files miss are written by hand in lua/sendpulse/api/extra.lua;
-- the generator reads that file too, so the reference lists them.
--
-- --check regenerates everything in memory and exits 1, naming the files, when
-- the committed output differs (or a generated file is missing or stale).
--
-- Runs on Lua 5.3+ (integers and floats apart). The output depends only on
-- the input: keys are sorted, numbers printed one way, nothing depends on
-- hash order.

local function script_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)/[^/]*$")
    return dir or "."
  end
  return "."
end
package.path = script_dir() .. "/../?.lua;" .. package.path

local openapi = require "contract.openapi"
local luadata = require "tools.luadata"

local SERVICES = {
  -- service name   file stem            title used in the reference
  { "email",          "bulk-email" },
  { "smtp",           "smtp" },
  { "sms",            "sms" },
  { "push",           "web-push" },
  { "viber",          "viber" },
  { "automation360",  "a360" },
  { "verifier",       "verifier" },
  { "chatbots",       "chatbots" },
  { "telegram",       "telegram" },
  { "whatsapp",       "whatsapp" },
  { "messenger",      "facebook" },
  { "instagram",      "instagram" },
  { "viber_bots",     "viber-chatbot" },
  { "live_chat",      "live-chat" },
  { "tiktok",         "tiktok" },
  { "crm",            "crm" },
  { "edu",            "edu" },
  { "files",          "file-manager" },
  { "popups",         "popups" },
}

-- Operations whose snake_case operationId would collide inside one service,
-- or that have no operationId at all. Keyed by "service METHOD path". The
-- generator stops on any collision not settled here, so a new version of the
-- files forces a person to choose a name.
local RENAMES = {
  -- Two POSTs are createContact; this one is marked "(Deprecated). Use POST
  -- /contacts/create instead", which keeps the plain name.
  ["crm POST /contacts"] = "create_contact_deprecated",
  -- Two GETs are getContactAttributes; this one reads one contact's values.
  ["crm GET /contacts/{contactId}/attributes"] = "get_contact_attribute_values",
  -- POST and PUT are both updateProductSections; the POST answers
  -- 201 "Sections successfully created".
  ["crm POST /products/{productId}/sections"] = "create_product_sections",
  -- No operationId in the file; every other chatbot file calls the same
  -- call deleteContactNote.
  ["messenger POST /contacts/deleteNote"] = "delete_contact_note",
}
local SYNTH_OPERATION_ID = {
  ["messenger POST /contacts/deleteNote"] = "deleteContactNote",
}

-- The bulk-email file refers to #/components/schemas/Error but never defines it.
local MISSING_SCHEMAS = {
  Error = {
    type = "object",
    properties = {
      message = { type = "string" },
      error_code = { type = "integer" },
    },
  },
}

local METHODS = { "get", "put", "post", "delete", "patch", "head", "options" }
local SMALL_ENUM = 20

---------------------------------------------------------------------------
-- paths and files

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

-- Stops generation: main reports it and exits 2; a spec that loaded this
-- file as a module sees an error "gen_api: ...".
local function fail(fmt, ...)
  error("gen_api: " .. string.format(fmt, ...), 0)
end

---------------------------------------------------------------------------
-- helpers

local sorted_keys, is_seq = luadata.sorted_keys, luadata.is_seq

local function snake(id)
  local s = id:gsub("[^%w]+", "_")
  s = s:gsub("(%u+)(%u%l)", "%1_%2")
  s = s:gsub("([%l%d])(%u)", "%1_%2")
  s = s:lower():gsub("_+", "_"):gsub("^_", ""):gsub("_$", "")
  return s
end

local function is_null(v)
  return v == openapi.null
end

local function deep_copy(v)
  if type(v) ~= "table" or is_null(v) then return v end
  local r = {}
  for k, x in pairs(v) do r[k] = deep_copy(x) end
  return r
end

---------------------------------------------------------------------------
-- $ref resolution

local Doc = {}
Doc.__index = Doc

local function new_doc(tree, file)
  return setmetatable({ tree = tree, file = file, warnings = {}, answers = {} }, Doc)
end

function Doc:warn(fmt, ...)
  self.warnings[#self.warnings + 1] = string.format(fmt, ...)
end

function Doc:pointer(ref)
  if ref:sub(1, 2) ~= "#/" then
    fail("%s: external $ref %q is not supported", self.file, ref)
  end
  local node = self.tree
  local parts = {}
  for part in ref:sub(3):gmatch("[^/]+") do
    part = part:gsub("~1", "/"):gsub("~0", "~")
    parts[#parts + 1] = part
  end
  for _, part in ipairs(parts) do
    node = type(node) == "table" and node[part] or nil
    if node == nil then break end
  end
  if node == nil and parts[1] == "components" and parts[2] == "schemas"
      and MISSING_SCHEMAS[parts[3]] and #parts == 3 then
    return MISSING_SCHEMAS[parts[3]]
  end
  if node == nil then fail("%s: unresolved $ref %q", self.file, ref) end
  return node
end

-- Follows a chain of $ref (siblings of $ref are merged over the target, as
-- OpenAPI 3.1 allows).
function Doc:deref(node, depth)
  depth = depth or 0
  if depth > 32 then fail("%s: $ref loop", self.file) end
  if type(node) ~= "table" or node["$ref"] == nil then return node end
  local target = self:deref(self:pointer(node["$ref"]), depth + 1)
  local extra = false
  for k in pairs(node) do if k ~= "$ref" then extra = true break end end
  if not extra then return target end
  local merged = {}
  for k, v in pairs(target) do merged[k] = v end
  for k, v in pairs(node) do if k ~= "$ref" then merged[k] = v end end
  return merged
end

-- A schema with $ref resolved and allOf merged, one level deep (properties
-- are normalised on demand).
function Doc:schema(s, depth)
  depth = depth or 0
  if depth > 32 then fail("%s: schema nesting too deep", self.file) end
  s = self:deref(s)
  if type(s) ~= "table" or is_null(s) then return {} end
  if not s.allOf then return s end
  local out = { properties = {}, required = {} }
  local req = {}
  local function merge(part)
    part = self:schema(part, depth + 1)
    for k, v in pairs(part) do
      if k == "properties" then
        for pk, pv in pairs(v) do out.properties[pk] = pv end
      elseif k == "required" then
        for _, r in ipairs(v) do
          if not req[r] then req[r] = true; out.required[#out.required + 1] = r end
        end
      elseif k ~= "allOf" and out[k] == nil then
        out[k] = v
      end
    end
  end
  local own = {}
  for k, v in pairs(s) do if k ~= "allOf" then own[k] = v end end
  merge(own)
  for _, part in ipairs(s.allOf) do merge(part) end
  if next(out.properties) == nil then out.properties = nil end
  if #out.required == 0 then out.required = nil end
  return out
end

-- The JSON type of a schema, or nil when it is not one simple type; the
-- second result is true when null is allowed too.
function Doc:type_of(s)
  s = self:schema(s)
  local t = s.type
  local nullable = s.nullable == true
  if type(t) == "table" then
    local rest = {}
    for _, x in ipairs(t) do
      if x == "null" then nullable = true else rest[#rest + 1] = x end
    end
    t = #rest == 1 and rest[1] or nil
  end
  local known = { string = 1, integer = 1, number = 1, boolean = 1, array = 1, object = 1 }
  if t ~= nil and not known[t] then t = nil end
  if t == nil then
    local alts = s.oneOf or s.anyOf
    if alts then
      local common
      for _, alt in ipairs(alts) do
        local at, an = self:type_of(alt)
        if an then nullable = true end
        if at == nil and an then -- the {type: null} branch
          at = common
        end
        if common == nil then common = at
        elseif at ~= common then
          if (at == "integer" and common == "number") or (at == "number" and common == "integer") then
            common = "number"
          else
            common = false
          end
        end
      end
      t = common or nil
    elseif s.properties then t = "object"
    elseif s.items then t = "array"
    elseif s.enum and s.enum[1] ~= nil and not is_null(s.enum[1]) then
      local v = s.enum[1]
      t = type(v) == "string" and "string" or type(v) == "boolean" and "boolean"
        or math.type(v) == "integer" and "integer" or type(v) == "number" and "number" or nil
    end
  end
  return t, nullable
end

function Doc:small_enum(s)
  s = self:schema(s)
  if type(s.enum) ~= "table" or #s.enum == 0 or #s.enum > SMALL_ENUM then return nil end
  local out = {}
  for _, v in ipairs(s.enum) do
    if not is_null(v) then out[#out + 1] = v end
  end
  return #out > 0 and out or nil
end

---------------------------------------------------------------------------
-- example values, built to satisfy the schema (the contract test sends them)

local function clean_example(v)
  -- JSON's null and tables holding it are left out of examples.
  if is_null(v) then return nil end
  if type(v) == "table" then
    local r = {}
    for k, x in pairs(v) do r[k] = clean_example(x) end
    return r
  end
  if type(v) == "number" and math.type(v) == "float" and v == math.floor(v)
      and v >= -2^53 and v <= 2^53 then
    return math.tointeger(v)
  end
  return v
end

local function string_example(s, name)
  local fmt = s.format
  local v
  if fmt == "email" or (name and name:lower():match("email$")) then v = "user@example.com"
  elseif fmt == "date-time" then v = "2026-01-01T00:00:00Z"
  elseif fmt == "date" then v = "2026-01-01"
  elseif fmt == "time" then v = "12:00:00"
  elseif fmt == "uri" or fmt == "url" or (name and name:lower():match("url$")) then
    v = "https://example.com/"
  elseif fmt == "uuid" then v = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
  elseif fmt == "binary" then v = "file contents"
  elseif fmt == "byte" then v = "ZXhhbXBsZQ=="
  elseif fmt == "ipv4" then v = "192.0.2.1"
  elseif name and name:lower():match("phone") then v = "380931234567"
  else v = "example" end
  local minl, maxl = tonumber(s.minLength), tonumber(s.maxLength)
  if minl and #v < minl then v = v .. string.rep("x", minl - #v) end
  if maxl and #v > maxl then v = v:sub(1, math.max(maxl, 1)) end
  return v
end

-- `fill`: an object none of whose properties is required shows them all
-- (for a body whose required fields alone would show nothing of it), and an
-- array's items take their name from the array's ("emails" -> "email").
function Doc:example(s, name, depth, fill)
  depth = depth or 0
  s = self:schema(s)
  if depth > 8 then return nil end
  local ex = s.example
  if ex == nil and type(s.examples) == "table" then ex = s.examples[1] end
  -- (filling, a value its schema refuses is passed over: the CRM file gives
  -- arrays the example "[ 1,2 ]", a string, and objects an enum of strings)
  local function fits(v)
    return v ~= nil and not is_null(v) and not (fill and not self:valid(s, clean_example(v)))
  end
  if fits(ex) then return clean_example(ex) end
  if fits(s.const) then return clean_example(s.const) end
  if fits(s.default) then return clean_example(s.default) end
  if type(s.enum) == "table" then
    for _, v in ipairs(s.enum) do
      if fits(v) then return clean_example(v) end
    end
  end
  local alts = s.oneOf or s.anyOf
  if alts and alts[1] then
    -- a branch that is not "null"
    for _, alt in ipairs(alts) do
      local at = self:schema(alt)
      if at.type ~= "null" then
        local merged = {}
        for k, v in pairs(s) do if k ~= "oneOf" and k ~= "anyOf" then merged[k] = v end end
        for k, v in pairs(at) do merged[k] = v end
        if s.properties and at.properties then
          merged.properties = {}
          for k, v in pairs(s.properties) do merged.properties[k] = v end
          for k, v in pairs(at.properties) do merged.properties[k] = v end
        end
        if s.required and at.required then
          merged.required = {}
          for _, r in ipairs(s.required) do merged.required[#merged.required + 1] = r end
          for _, r in ipairs(at.required) do merged.required[#merged.required + 1] = r end
        end
        return self:example(merged, name, depth + 1, fill)
      end
    end
  end
  local t = self:type_of(s)
  if t == "string" then return string_example(s, name)
  elseif t == "integer" then
    local v = tonumber(s.minimum) or (tonumber(s.exclusiveMinimum) and s.exclusiveMinimum + 1) or 1
    if tonumber(s.maximum) and v > s.maximum then v = s.maximum end
    return math.tointeger(math.ceil(v)) or 1
  elseif t == "number" then
    local v = tonumber(s.minimum) or 1
    if tonumber(s.maximum) and v > s.maximum then v = s.maximum end
    return clean_example(v)
  elseif t == "boolean" then return true
  elseif t == "array" then
    local n = math.max(tonumber(s.minItems) or 1, 1)
    local item = self:example(s.items or {}, fill and name and name:gsub("s$", "") or nil, depth + 1, fill)
    if item == nil then item = "example" end
    local out = {}
    for i = 1, n do out[i] = deep_copy(item) end
    return out
  elseif t == "object" or s.properties then
    local out = {}
    local props = s.properties or {}
    local names, optional = {}, false
    for _, r in ipairs(s.required or {}) do
      if props[r] ~= nil or s.properties == nil then names[#names + 1] = r end
    end
    -- (a required name the schema does not declare shows nothing)
    if fill and #names == 0 then
      names, optional = {}, true
      for _, k in ipairs(sorted_keys(props)) do
        if not self:schema(props[k]).readOnly then names[#names + 1] = k end
      end
    end
    for _, r in ipairs(names) do
      local v = self:example(props[r] or {}, r, depth + 1, fill)
      if v == nil then v = "example" end
      -- an optional property no value fits (the CRM file's sortBy is an
      -- object whose enum holds strings) is left out
      if not (optional and not self:valid(props[r], v)) then out[r] = v end
    end
    return out
  end
  -- (filling, an untyped value named like an address, a phone, a URL or an id)
  if fill and name then
    local lower = name:lower()
    if lower:match("email$") or lower:match("phone") or lower:match("url$") then return string_example(s, name) end
    if lower:match("id$") then return 1 end
  end
  return "example"
end

---------------------------------------------------------------------------
-- a small JSON-schema check, to pick a spec example that fits its own schema
-- (several files give examples their schema refuses)

function Doc:valid(s, v, depth)
  depth = depth or 0
  if depth > 40 then return true end
  s = self:schema(s)
  if is_null(v) then
    local t = s.type
    if t == "null" or s.nullable == true then return true end
    if type(t) == "table" then for _, x in ipairs(t) do if x == "null" then return true end end end
    return t == nil and s.enum == nil
  end
  if s.enum then
    local ok = false
    for _, e in ipairs(s.enum) do if e == v then ok = true break end end
    if not ok then return false end
  end
  if s.const ~= nil and not is_null(s.const) and s.const ~= v then return false end
  if s.oneOf then
    local n = 0
    for _, alt in ipairs(s.oneOf) do if self:valid(alt, v, depth + 1) then n = n + 1 end end
    if n ~= 1 then return false end
  end
  if s.anyOf then
    local ok = false
    for _, alt in ipairs(s.anyOf) do if self:valid(alt, v, depth + 1) then ok = true break end end
    if not ok then return false end
  end
  local types = s.type
  if type(types) ~= "table" then types = { types } end
  if types[1] ~= nil then
    local ok = false
    for _, t in ipairs(types) do
      if t == "string" and type(v) == "string" then ok = true
      elseif t == "integer" and math.type(v) == "integer" then ok = true
      elseif t == "number" and type(v) == "number" then ok = true
      elseif t == "boolean" and type(v) == "boolean" then ok = true
      elseif t == "array" and type(v) == "table" and is_seq(v) then ok = true
      elseif t == "object" and type(v) == "table" and (next(v) == nil or not is_seq(v)) then ok = true
      elseif t == "null" and is_null(v) then ok = true
      elseif t ~= "string" and t ~= "integer" and t ~= "number" and t ~= "boolean" and t ~= "array"
          and t ~= "object" and t ~= "null" then ok = true
      end
    end
    if not ok then return false end
  end
  if type(v) == "string" then
    if tonumber(s.minLength) and #v < s.minLength then return false end
    if tonumber(s.maxLength) and #v > s.maxLength then return false end
  elseif type(v) == "number" then
    if tonumber(s.minimum) and v < s.minimum then return false end
    if tonumber(s.maximum) and v > s.maximum then return false end
  elseif type(v) == "table" then
    if is_seq(v) and next(v) ~= nil then
      if tonumber(s.minItems) and #v < s.minItems then return false end
      if s.items then
        for _, x in ipairs(v) do if not self:valid(s.items, x, depth + 1) then return false end end
      end
    else
      -- a required name the schema does not declare is a defect of the
      -- file (see undeclared_required), not a reason to refuse the example
      for _, r in ipairs(s.required or {}) do
        if v[r] == nil and (s.properties == nil or s.properties[r] ~= nil) then return false end
      end
      for k, ps in pairs(s.properties or {}) do
        if v[k] ~= nil and not self:valid(ps, v[k], depth + 1) then return false end
      end
    end
  end
  return true
end

-- The first example of a media type (or parameter) that fits the schema.
-- An empty table in it stays: the methods send it as [] where the schema
-- declares an array (sendpulse.operations.arguments), as the file meant.
function Doc:valid_example(s, media)
  local candidates = {}
  if media.example ~= nil then candidates[#candidates + 1] = media.example end
  if type(media.examples) == "table" then
    for _, name in ipairs(sorted_keys(media.examples)) do
      local e = self:deref(media.examples[name])
      if type(e) == "table" and e.value ~= nil then candidates[#candidates + 1] = e.value end
    end
  end
  for _, c in ipairs(candidates) do
    local v = clean_example(c)
    if v ~= nil and self:valid(s, v) then return v end
  end
  return nil
end

---------------------------------------------------------------------------
-- reading one operation

local function body_kind(content_type)
  if content_type:match("json") then return "json" end
  if content_type == "application/x-www-form-urlencoded" then return "form" end
  if content_type:match("^multipart/") then return "multipart" end
  return nil
end

local PAGING = {
  { "limit_offset", "limit", "offset" },
  { "start_count", "start", "count" },
  { "size_skip", "size", "skip" },
}

-- How deep the nested schema data of a field goes (SendPulse's request
-- bodies nest at most 9 levels; deeper levels would be emitted as bare
-- types, their own fields unchecked).
local MAX_NESTING = 12

-- A number the schema gives (minLength, maximum, ...), or nil.
local function bound(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return nil end
  return clean_example(v)
end

-- The formats checked before any I/O (the others, such as date-time, are
-- written differently by different SendPulse calls: "2021-01-21 12:00").
local CHECKED_FORMATS = { email = true }

--- What the schema `s` declares of a value, beyond its type, that the
-- methods check before any I/O and use to shape the body: bounds, a
-- checked format, the fields of an object, the items of an array. Sets them
-- on `f` (a field record or an array's items record). An object's fields
-- and an array's items are records of the same shape, so the data nests as
-- the schema does; what declares nothing (no type, no rule) is left out.
function Doc:describe(f, s, t, depth)
  if t == "string" then
    f.min_length, f.max_length = bound(s.minLength), bound(s.maxLength)
    if f.min_length == 0 then f.min_length = nil end
    if CHECKED_FORMATS[s.format] then f.format = s.format end
  elseif t == "integer" or t == "number" then
    f.minimum, f.maximum = bound(s.minimum), bound(s.maximum)
  elseif t == "array" then
    f.min_items, f.max_items = bound(s.minItems), bound(s.maxItems)
    if f.min_items == 0 then f.min_items = nil end
    if s.items and depth < MAX_NESTING then
      local items = self:shape(s.items, depth + 1)
      if items then f.items = items end
    end
  elseif t == "object" and depth < MAX_NESTING and type(s.properties) == "table"
      and not s.oneOf and not s.anyOf then
    local req = {}
    for _, r in ipairs(s.required or {}) do req[r] = true end
    local fields = {}
    for _, name in ipairs(sorted_keys(s.properties)) do
      local ps = self:schema(s.properties[name])
      if not ps.readOnly then
        local sub = self:field(name, ps, req[name], depth + 1)
        if sub.type or sub.required or sub.enum then fields[#fields + 1] = sub end
      end
    end
    if #fields > 0 then f.fields = fields end
  end
end

--- The record of a value without a name (an array's items), or nil when
-- its schema declares nothing to check.
function Doc:shape(s, depth)
  s = self:schema(s)
  local t, nullable = self:type_of(s)
  local r = { type = t, nullable = nullable or nil, enum = self:small_enum(s) }
  self:describe(r, s, t, depth)
  if next(r) == nil then return nil end
  return r
end

--- A field record { name, type, required, nullable, enum, ... } (see
-- Doc:describe for the rest). `depth` nil: a path parameter, whose checks
-- are the method's own (type and enum only).
function Doc:field(name, s, required, depth)
  s = self:schema(s)
  local t, nullable = self:type_of(s)
  local f = {
    name = name,
    type = t,
    nullable = nullable or nil,
    required = required or nil,
    enum = self:small_enum(s),
  }
  if depth then self:describe(f, s, t, depth) end
  return f
end

function Doc:operation(service, path, method, op, path_item)
  local key = service .. " " .. method:upper() .. " " .. path
  local op_id = op.operationId
  if op_id == nil then
    op_id = SYNTH_OPERATION_ID[key]
    if not op_id then fail("%s: %s has no operationId and no name in RENAMES", self.file, key) end
  end
  local rec = {
    name = RENAMES[key] or snake(op_id),
    operationId = op_id,
    method = method:upper(),
    path = path,
    summary = op.summary and (op.summary:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) or nil,
    deprecated = (op.deprecated == true or (op.summary or ""):match("^%(Deprecated%)")) and true or nil,
  }
  if SYNTH_OPERATION_ID[key] then rec.operationId_missing = true end

  -- parameters: the path item's, overridden by the operation's
  local params, order = {}, {}
  local function add(list)
    for _, p in ipairs(list or {}) do
      p = self:deref(p)
      local k = p["in"] .. ":" .. p.name
      if not params[k] then order[#order + 1] = k end
      params[k] = p
    end
  end
  add(path_item.parameters)
  add(op.parameters)

  local in_path = {}
  for name in path:gmatch("{([^}]+)}") do in_path[#in_path + 1] = name end
  local path_params, query = {}, {}
  local seen_path = {}
  local path_types = {}
  for _, name in ipairs(in_path) do
    local p = params["path:" .. name]
    if not p then
      -- declared with another case (edu: {courseId} declared as CourseId)
      for _, k in ipairs(order) do
        if params[k]["in"] == "path" and params[k].name:lower() == name:lower() then
          p = params[k]
          self:warn("%s: path parameter {%s} is declared as %s; its schema is used", key, name, p.name)
          seen_path[p.name] = true
          break
        end
      end
    end
    if not p then
      self:warn("%s: path parameter {%s} is not declared; taken as a string", key, name)
      p = { name = name, schema = { type = "string" } }
    end
    local f = self:field(name, p.schema or {}, true)
    f.example = clean_example(p.example) or self:example(p.schema or {}, name)
    if f.type ~= "integer" and f.type ~= "number" then f.type = f.type or "string" end
    path_params[#path_params + 1] = f
    seen_path[name] = true
    path_types[name] = f.type
  end
  for _, k in ipairs(order) do
    local p = params[k]
    if p["in"] == "path" and not seen_path[p.name] then
      self:warn("%s: path parameter %s is not in the path; ignored", key, p.name)
    elseif p["in"] == "query" then
      local f = self:field(p.name, p.schema or {}, p.required == true, 0)
      local ex = p.example
      if ex == nil and type(p.examples) == "table" then
        local _, first = next(p.examples)
        ex = type(first) == "table" and first.value or nil
      end
      f.example = clean_example(ex)
      if f.example == nil and f.required then f.example = self:example(p.schema or {}, p.name) end
      query[#query + 1] = f
    elseif p["in"] == "header" or p["in"] == "cookie" then
      self:warn("%s: %s parameter %s not supported; ignored", key, p["in"], p.name)
    end
  end
  table.sort(query, function(a, b) return a.name < b.name end)
  if #path_params > 0 then rec.path_params = path_params end
  if #query > 0 then rec.query = query end

  local qnames = {}
  for _, f in ipairs(query) do qnames[f.name] = true end
  for _, style in ipairs(PAGING) do
    if qnames[style[2]] and qnames[style[3]] then rec.paging = style[1] break end
  end

  -- request body
  local example = {}
  for _, f in ipairs(path_params) do example[f.name] = f.example end
  for _, f in ipairs(query) do
    if f.example ~= nil and f.required then example[f.name] = f.example end
  end
  for _, f in ipairs(path_params) do f.example = nil end
  for _, f in ipairs(query) do f.example = nil end

  local rb = op.requestBody and self:deref(op.requestBody)
  if rb and rb.content then
    local cts = sorted_keys(rb.content)
    local ct
    for _, c in ipairs(cts) do if c:match("json") then ct = c break end end
    ct = ct or cts[1]
    local kind = body_kind(ct)
    if not kind then fail("%s: %s: unsupported content type %s", self.file, key, ct) end
    local media = rb.content[ct]
    local s = self:schema(media.schema or {})
    local body = { content = kind, required = rb.required == true or nil }
    local t = self:type_of(s)
    local media_ex = self:valid_example(s, media)
    if t == "object" or s.properties or ((s.oneOf or s.anyOf) and t == nil) or (t == nil and not s.items) then
      body.type = "object"
      -- properties: own, plus those of every oneOf/anyOf branch
      local props, req = {}, {}
      for k, v in pairs(s.properties or {}) do props[k] = v end
      for _, r in ipairs(s.required or {}) do req[r] = true end
      local alts = s.oneOf or s.anyOf
      local one_of
      if alts then
        one_of = {}
        for _, alt in ipairs(alts) do
          local a = self:schema(alt)
          for k, v in pairs(a.properties or {}) do if props[k] == nil then props[k] = v end end
          if a.required and #a.required > 0 then
            local r = {}
            for _, x in ipairs(a.required) do if not req[x] then r[#r + 1] = x end end
            table.sort(r)
            if #r > 0 then one_of[#one_of + 1] = r end
          end
        end
        if #one_of ~= #alts then one_of = nil end
      end
      local fields = {}
      for _, name in ipairs(sorted_keys(props)) do
        local ps = self:schema(props[name])
        if not ps.readOnly then
          -- (an upload's fields keep to their types: a file stands for a
          -- string there, and the API reads the parts, not JSON)
          fields[#fields + 1] = self:field(name, ps, req[name], kind ~= "multipart" and 0 or nil)
        end
      end
      -- required names the schema never declares: a path parameter of the
      -- same name is sent in the body too; anything else is a defect of
      -- the file, noted and not enforced
      local undeclared = {}
      for _, r in ipairs(sorted_keys(req)) do
        if props[r] == nil then
          if path_types[r] then
            fields[#fields + 1] = { name = r, type = path_types[r], required = true, from_path = true }
          else
            undeclared[#undeclared + 1] = r
            self:warn("%s: body requires %s, which it does not declare; not enforced", key, r)
          end
        end
      end
      table.sort(fields, function(a, b) return a.name < b.name end)
      if #undeclared > 0 then body.undeclared_required = undeclared end
      if #fields > 0 then body.fields = fields end
      body.one_of = one_of
      local ex = type(media_ex) == "table" and not is_seq(media_ex) and media_ex or nil
      if not ex then
        ex = self:example(s, nil)
        -- nothing of the body is required: show its fields (the reference's
        -- examples, and what the contract test sends, then have a body)
        local shows = false
        for _, f in ipairs(fields) do
          if not f.from_path and type(ex) == "table" and ex[f.name] ~= nil then shows = true end
        end
        if not shows and #fields > 0 then ex = self:example(s, nil, 0, true) end
      end
      if type(ex) ~= "table" then ex = {} end
      for k, v in pairs(ex) do
        if example[k] == nil then example[k] = v end
      end
    else
      -- an array (or a scalar) body: the caller gives it as args.body
      body.type = t or "array"
      body.raw = true
      if kind == "json" then self:describe(body, s, body.type, 0) end
      local ex = media_ex
      if ex == nil then ex = self:example(s, nil) end
      example.body = ex
    end
    rec.body = body
  end
  -- an answer that is not JSON (a report file): the caller must ask for it
  local types, json_answer = {}, false
  for code, resp in pairs(op.responses or {}) do
    if tostring(code):match("^2") then
      resp = self:deref(resp)
      for ct in pairs(type(resp) == "table" and resp.content or {}) do
        if ct:match("json") then json_answer = true else types[#types + 1] = ct end
      end
    end
  end
  -- The schema of the JSON answer, for the editors' types (meta.lua): the
  -- lowest 2xx status that has one. Kept beside the records, not in them:
  -- the client never reads it.
  for _, code in ipairs(sorted_keys(op.responses or {})) do
    local resp = tostring(code):match("^2") and self:deref(op.responses[code])
    local content = type(resp) == "table" and resp.content or {}
    for _, ct in ipairs(sorted_keys(content)) do
      local media = self:deref(content[ct])
      if ct:match("json") and type(media) == "table" and type(media.schema) == "table"
          and self.answers[rec.name] == nil then
        self.answers[rec.name] = media.schema
      end
    end
  end
  if not json_answer and #types > 0 then
    table.sort(types)
    rec.accept = types[1]
  end
  rec.example = example
  return rec
end

---------------------------------------------------------------------------
-- one service

-- The operations of one file: `tree` is its extracted contract (default:
-- the committed extraction of sendpulse-<stem>-openapi.yml).
local function load_service(service, stem, tree)
  local file = "sendpulse-" .. stem .. "-openapi.yml"
  if tree == nil then
    local ok, loaded = pcall(openapi.load, stem)
    if not ok then fail("%s: %s", file, tostring(loaded)) end
    tree = loaded
  end
  local doc = new_doc(tree, file)
  local server = tree.servers and tree.servers[1] and tree.servers[1].url
  if not server then fail("%s: no servers entry", file) end
  local base = server:match("^https?://[^/]+(/.*)$") or ""
  base = base:gsub("/$", "")
  local ops, names = {}, {}
  for _, path in ipairs(sorted_keys(tree.paths or {})) do
    local item = doc:deref(tree.paths[path])
    for _, m in ipairs(METHODS) do
      local op = item[m]
      if type(op) == "table" then
        local rec = doc:operation(service, path, m, op, item)
        local prev = names[rec.name]
        if prev then
          fail("%s: operation name %s is used by %s %s and %s %s; settle it in RENAMES",
            file, rec.name, prev.method, prev.path, rec.method, rec.path)
        end
        names[rec.name] = rec
        ops[#ops + 1] = rec
      end
    end
  end
  return {
    service = service,
    source = file,
    title = tree.info and tree.info.title or service,
    base = base,
    operations = names,
    count = #ops,
    warnings = doc.warnings,
    doc = doc,                -- (its $ref resolution, for the answers' types)
    answers = doc.answers,    -- operation name -> the schema of its JSON answer
  }
end

local KEYWORDS = luadata.KEYWORDS

local function to_lua(v, indent)
  return luadata.write(v, { indent = indent })
end

---------------------------------------------------------------------------
-- outputs

local HEADER = "-- generated by spec/tools/gen_api.lua from %s; do not edit.\n"
  .. "-- (the contract of SendPulse's OpenAPI files, extracted into spec/contract/openapi/)\n"
  .. "-- luacheck: no max line length\n"

local function operation_record(rec)
  local r = {}
  for k, v in pairs(rec) do r[k] = v end
  return r
end

local function service_file(svc)
  local ops = {}
  for name, rec in pairs(svc.operations) do ops[name] = operation_record(rec) end
  local data = {
    service = svc.service,
    source = svc.source,
    title = svc.title,
    base = svc.base,
    operations = ops,
  }
  return string.format(HEADER, svc.source)
    .. "-- Operations of the " .. svc.service .. " service, one record each; see REFERENCE.md.\n"
    -- (a table on one line whenever it fits: the nested schema data would
    -- otherwise take a line per key)
    .. "return " .. luadata.write(data, { width = 118 }) .. "\n"
end

local function index_file(services, total)
  local list = {}
  for _, svc in ipairs(services) do
    list[svc.service] = {
      module = "sendpulse.api." .. svc.service,
      base = svc.base,
      source = svc.source,
      count = svc.count,
    }
  end
  return string.format(HEADER, "sendpulse-*-openapi.yml")
    .. "-- The services of the SendPulse API and their base paths.\n"
    .. "return " .. to_lua({ services = list, operations = total, extra = "sendpulse.api.extra" }) .. "\n"
end

local function md_escape(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

local function type_label(f)
  local t = f.type or "any"
  if f.format == "email" then t = t .. " (an email address)" end
  if f.nullable then t = t .. " or null" end
  local rules = {}
  local function range(lo, hi, unit)
    unit = unit and (" " .. unit) or ""
    if lo and hi then rules[#rules + 1] = ("%s to %s%s"):format(lo, hi, unit)
    elseif lo then rules[#rules + 1] = ("at least %s%s"):format(lo, unit)
    elseif hi then rules[#rules + 1] = ("at most %s%s"):format(hi, unit) end
  end
  range(f.min_length, f.max_length, "characters")
  range(f.min_items, f.max_items, "items")
  range(f.minimum, f.maximum)
  if #rules > 0 then t = t .. ", " .. table.concat(rules, ", ") end
  if f.enum then
    local vs = {}
    for _, v in ipairs(f.enum) do vs[#vs + 1] = "`" .. tostring(v) .. "`" end
    t = t .. ": " .. table.concat(vs, ", ")
  end
  return t
end

-- The rows of field f and of the fields nested in it, named by their path
-- (template.language.code, template.components[].type).
local function field_rows(rows, f, where, prefix)
  local name = prefix .. f.name
  rows[#rows + 1] = { f, where, name }
  local inner, path = f, name
  while inner.items do inner, path = inner.items, path .. "[]" end
  if inner ~= f and (inner.type or inner.enum or inner.format) and not inner.fields then
    rows[#rows + 1] = { inner, where, path }
  end
  for _, sub in ipairs(inner.fields or {}) do field_rows(rows, sub, where, path .. ".") end
end

---------------------------------------------------------------------------
-- the hand-written helpers, read from their modules (lua/sendpulse/helpers/)

local function code_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = "`" .. tostring(v) .. "`" end
  return table.concat(out, ", ")
end

-- What the reference says of the helpers: the modules' own tables (which
-- operations batch, which fields are Base64, which answers are normalised,
-- page sizes, the codes patience waits on). They load the C core: the
-- build of this checkout for this Lua (make), first.
local function helper_facts(root)
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  package.cpath = root .. "/build/lua" .. _VERSION:match("%d+%.%d+") .. "/?.so;" .. package.cpath
  local ok, err = pcall(require, "sendpulse.core")
  if not ok then fail("the helpers need the C core: build it first (make): %s", tostring(err)) end
  local batches = require "sendpulse.helpers.batches"
  local encoding = require "sendpulse.helpers.encoding"
  local shapes = require "sendpulse.helpers.shapes"
  local paging = require "sendpulse.helpers.paging"
  local patience = require "sendpulse.helpers.patience"
  local call_options = require "sendpulse.operations.call_options"
  local facts = { ops = {}, rows = {}, max_page = paging.MAX_PAGE, styles = paging.STYLES,
    call_options = call_options.LIST,
    codes = require("sendpulse.errors").waiting_codes(), max_wait = patience.DEFAULT_MAX_WAIT,
    attempts = patience.DEFAULT_ATTEMPTS }
  local function add(service, name, text)
    facts.ops[service] = facts.ops[service] or {}
    local notes = facts.ops[service][name] or {}
    facts.ops[service][name] = notes
    notes[#notes + 1] = text
    facts.rows[#facts.rows + 1] = { service .. ":" .. name, text }
  end
  local BASE64 = {
    encode = function(fields)
      return "Base64 done for you: give " .. code_list(fields) .. " and every value of `attachments_binary` as plain"
        .. " text"
    end,
    decode = function(fields) return "the answer's " .. code_list(fields) .. " comes back decoded from Base64" end,
    decode_each = function(fields)
      return "every template's " .. code_list(fields) .. " comes back decoded from Base64"
    end,
    blacklist = function(fields)
      return code_list(fields) .. " is a list of addresses (or one comma-separated string), sent as the Base64"
        .. " of one comma-separated string"
    end,
    smtp = function(fields)
      return "Base64 done for you: give " .. code_list(fields) .. " and every value of `email.attachments_binary`"
        .. " as plain text"
    end,
  }
  for _, w in ipairs(encoding.WRAPPED) do add(w[1], w[2], BASE64[w[3]](w[4])) end
  for _, l in ipairs(batches.LIMITS) do
    add(l[1], l[2], ("any number of `%s`, sent in batches of %d per call, in order (`batch_size` picks smaller"
      .. " batches); a failure part-way reports what was done and what was not"):format(l[3], l[4]))
  end
  for _, n in ipairs(shapes.NORMALISED) do add(n[1], n[2], "returns " .. n[3]) end
  -- (meta.lua: the answers these helpers change)
  facts.normalised, facts.batched = shapes.NORMALISED, batches.LIMITS
  table.sort(facts.rows, function(a, b) return a[1] < b[1] end)
  return facts
end

local function helpers_section(w, facts)
  local styles = {}
  for _, k in ipairs(sorted_keys(facts.styles)) do
    styles[#styles + 1] = ("`%s` (%s)"):format(k, code_list(facts.styles[k]))
  end
  w("## Helpers")
  w("")
  w("Hand-written helpers (`lua/sendpulse/helpers/`) sit beside the generated operations where the raw API is"
    .. " awkward; [docs/helpers.md](../../../docs/helpers.md) has examples that run. On every service:")
  w("")
  w(("- `service:each(name, args, opts)` iterates over the items of every page of a paginated operation (marked"
    .. " *pagination* below; styles %s), pages of at most %d items (`opts.page_size`), up to `opts.max_items`;"
    .. " `service:all(name, args, opts)` returns them in one array. `opts.items = function(answer) return"
    .. " array end` reads an answer whose items are elsewhere."):format(table.concat(styles, ", "), facts.max_page))
  w(("- `service:patient(opts)` is the same service whose calls wait out the answers %s (`err.retry_after`"
    .. " seconds) and try again, within `max_wait` seconds (default %d) and `attempts` calls (default %d)."):format(
    code_list(facts.codes), facts.max_wait, facts.attempts))
  w("- `service:raw(name, args, call_opts)` calls an operation without its helper: no Base64, no batches, the"
    .. " answer as SendPulse sent it.")
  w("- `client.smtp:send{ subject =, from =, to =, html = | text = | template =, cc =, bcc =, reply_to =,"
    .. " attachments =, attachments_binary = }` sends one email through `smtp:send_smtp_email`, checked"
    .. " before any I/O (addresses, a subject, a body, no unknown field), with the Base64 done for you.")
  w("")
  w("These operations are replaced by a helper of the same name (the plain one stays reachable with `raw`):")
  w("")
  w("| operation | the helper |")
  w("|---|---|")
  for _, r in ipairs(facts.rows) do w(("| `%s` | %s |"):format(r[1], md_escape(r[2]))) end
  w("")
end

-- The call options, for the reference (their names are the client's:
-- a spec holds this list to sendpulse.operations.call_options.NAMES).
-- name, meaning, LuaLS type (meta.lua).
local CALL_OPTION_DOCS = {
  { "timeout", "seconds for this call (instead of the client's `timeout`): a deadline for the whole"
    .. " call, token, wait for a slot, every attempt and backoff included", "number" },
  { "attempt_timeout", "seconds at most for one attempt within that deadline (a GET stalled on a"
    .. " connection that died silently is tried again in the time left)", "number" },
  { "headers", "extra request headers, `{ name = value }`; an `Accept` given here replaces the"
    .. " method's own (`application/json`, or a report's file type)", "table<string, string>" },
  { "idempotent", "`true`: a failed POST may be retried as a GET would (the call is really a read,"
    .. " or repeating it is harmless)", "boolean" },
  { "raw", "`true`: return a successful answer's bytes undecoded (errors are still decoded)", "boolean" },
  { "idempotency_key", "1 to 255 printable ASCII characters: the call runs at most once for this key"
    .. " (a repeat is the recorded outcome; docs/outbox.md)", "string" },
}

local function call_options_section(w, facts)
  w("## Call options: the second table")
  w("")
  w("Every method, and every helper below, takes a second table with the options of the call:")
  w("")
  w("```lua")
  w('client.email:create_mailing_list({ bookName = "Newsletter" }, { timeout = 5 })')
  w('client.email:get_mailing_lists(nil, { headers = { ["X-Request-Id"] = "42" } })')
  w('for list in client.email:each("get_mailing_lists", nil, { page_size = 50, timeout = 5 }) do end')
  w("```")
  w("")
  w("| option | meaning |")
  w("|---|---|")
  local documented = {}
  for _, row in ipairs(CALL_OPTION_DOCS) do documented[row[1]] = row[2] end
  for _, name in ipairs(facts.call_options) do
    if not documented[name] then fail("call option %s has no line in CALL_OPTION_DOCS", name) end
    w(("| `%s` | %s |"):format(name, documented[name]))
    documented[name] = nil
  end
  local stale = next(documented)
  if stale then
    fail("CALL_OPTION_DOCS documents %s, which is no call option (sendpulse.operations.call_options)", stale)
  end
  w("")
  w("They are `client:request`'s options without the content (`query`, `json`, `form`, `body`,"
    .. " `content_type`), which the method builds from the first table, and their values are"
    .. " checked by `client:request`'s rules before any I/O (a wrong one is an argument error"
    .. " naming the method and the option). A call option in the first table (`{ bookName"
    .. " = \"x\", timeout = 1 }`) is an argument error that says to move it to the second table"
    .. " (it would otherwise be sent to SendPulse as a field, and the call made without it),"
    .. " unless the operation has a field of that name. `each` and `all` take them in their"
    .. " `opts`, beside `page_size`; the batching helpers, `email:import` and `email:export` give"
    .. " them to every call they make.")
  w("")
end

local function reference(services, extra, total, facts)
  local out = {}
  local function w(s) out[#out + 1] = s end
  w("<!-- generated by spec/tools/gen_api.lua from spec/contract/openapi/ (SendPulse's OpenAPI files)"
    .. " and lua/sendpulse/api/extra.lua; do not edit. -->")
  w("# lua-sendpulse API reference")
  w("")
  w(("Every operation of the SendPulse REST API as a method of the client: %d operations from"
    .. " SendPulse's OpenAPI files, plus the calls written by hand that the files miss (marked"
    .. " *hand-written*)."):format(total))
  w("")
  w("```lua")
  w('local sendpulse = require "sendpulse"')
  w("local client = sendpulse.new{ ... }")
  w('local list = client.email:create_mailing_list{ bookName = "Newsletter" }')
  w("```")
  w("")
  w("A method takes one table holding the path, query and body fields by their names in the"
    .. " spec. Fields not listed here are passed on: in the body for methods with a body, else in"
    .. " the query. A body that is a JSON array (not an object) is given as `args.body`. Path"
    .. " parameters may be strings or integers; they are percent-encoded into the path.")
  w("")
  w("Fields are checked as deep as the files describe them, before anything is sent: required"
    .. " fields (a nested one when its parent is given: `template.language.code`), types, the"
    .. " values of an enum, lengths in characters, numbers of items, numeric bounds and the email"
    .. " format. A failure is an argument error naming the field's place"
    .. " (`whatsapp:send_template_by_phone: argument 'template.language.code' is required (string)`),"
    .. " raised, or returned as `nil, err` by a safe client. Fields the files do not declare are"
    .. " not checked, at any level. An empty Lua table where a file declares an array is sent as"
    .. " `[]`, nested fields included (Lua has one empty table for `{}` and `[]`; elsewhere an"
    .. " empty table is `{}`, and `sendpulse.array({})` is `[]`); the caller's tables are never"
    .. " changed. The nested rows of the tables below (`template.components[].type`) are what is"
    .. " checked.")
  w("")
  w("Names are the operationId in snake_case. Where two operations of one file share an"
    .. " operationId, or one has none, the generator names them by hand:")
  w("")
  for _, k in ipairs(sorted_keys(RENAMES)) do
    w(("- `%s` → `%s`"):format(k, RENAMES[k]))
  end
  w("")
  w("Pagination styles (from the query parameters): `limit_offset`, `start_count`, `size_skip`.")
  w("")
  w("Uploads (`multipart` bodies) take each file as `{ content = <string>, filename = ..., content_type = ... }`"
    .. " (a list of them where the field is an array); other values are sent as text parts."
    .. " The examples below are built from the files' own examples where those fit their schema,"
    .. " else from the schema (all of a body's fields when none is required); they are what the"
    .. " contract test sends to a mock of each file.")
  w("")
  w("The operations are data: `lua/sendpulse/api/<service>.lua` (generated;"
    .. " `require(\"sendpulse.operations.catalog\").operation(service, name)` returns one record) and"
    .. " `lua/sendpulse/api/extra.lua` (by hand). A record holds `name`, `operationId`, `method`, `path`"
    .. " (without the base path), `summary`, `deprecated`,"
    .. " `path_params` and `query` (lists of fields), `body` (`content` ="
    .. " json | form | multipart, `type`, `required`, `fields`, `raw` for an array body (with `items`),"
    .. " `one_of`, `undeclared_required`), `paging`, `accept` (an answer that is not JSON) and `example`."
    .. " A field is `{ name, type, required, nullable, enum, min_length, max_length, format, minimum,"
    .. " maximum, min_items, max_items, items, fields }`: `items` describes an array's items and"
    .. " `fields` an object's fields, in the same shape, as deep as the file goes.")
  w("")
  call_options_section(w, facts)
  helpers_section(w, facts)
  w("## Services")
  w("")
  w("| service | base path | source | operations |")
  w("|---|---|---|---|")
  for _, svc in ipairs(services) do
    local n = svc.count
    local x = extra[svc.service] and extra[svc.service].operations
    local nx = 0
    for _ in pairs(x or {}) do nx = nx + 1 end
    w(("| [`%s`](#%s) | `%s` | %s | %d%s |"):format(svc.service, svc.service,
      svc.base == "" and "/" or svc.base, svc.source, n, nx > 0 and (" + " .. nx .. " hand-written") or ""))
  end
  w("")
  for _, svc in ipairs(services) do
    w("## " .. svc.service)
    w("")
    w(("%s — `%s`, base path `%s`."):format(svc.title, svc.source, svc.base == "" and "/" or svc.base))
    w("")
    local all = {}
    for name, rec in pairs(svc.operations) do all[name] = { rec = rec } end
    local x = extra[svc.service] and extra[svc.service].operations or {}
    for name, rec in pairs(x) do all[name] = { rec = rec, hand = true } end
    for _, name in ipairs(sorted_keys(all)) do
      local rec, hand = all[name].rec, all[name].hand
      w(("### %s:%s"):format(svc.service, name))
      w("")
      w(("`%s %s%s`%s%s"):format(rec.method, svc.base, rec.path,
        rec.operationId and (" — operationId `" .. rec.operationId .. "`"
          .. (rec.operationId_missing and " (not in the file)" or "")) or "",
        hand and " — *hand-written*" or ""))
      w("")
      if rec.summary then w(md_escape(rec.summary) .. (rec.deprecated and " (deprecated)" or "")) w("") end
      local rows = {}
      for _, f in ipairs(rec.path_params or {}) do rows[#rows + 1] = { f, "path", f.name } end
      for _, f in ipairs(rec.query or {}) do field_rows(rows, f, "query", "") end
      local b = rec.body
      local copied = {}
      if b and not b.raw then
        for _, f in ipairs(b.fields or {}) do
          if f.from_path then copied[#copied + 1] = "`" .. f.name .. "`"
          else field_rows(rows, f, "body", "") end
        end
      elseif b then
        field_rows(rows, { name = "body", type = b.type, required = b.required, items = b.items,
          min_items = b.min_items, max_items = b.max_items }, "body (whole)", "")
      end
      if #rows > 0 then
        w("| field | in | type | required |")
        w("|---|---|---|---|")
        for _, r in ipairs(rows) do
          local f = r[1]
          w(("| `%s` | %s | %s | %s |"):format(md_escape(r[3]), r[2], md_escape(type_label(f)),
            f.required and "yes" or ""))
        end
        w("")
      end
      local notes = {}
      if b then notes[#notes + 1] = "body: " .. b.content end
      if b and b.content == "multipart" then
        notes[#notes + 1] = "a file is given as `{ content = ..., filename = ..., content_type = ... }`"
      end
      if #copied > 0 then
        notes[#notes + 1] = "the file wants " .. table.concat(copied, ", ")
          .. " in the body too: the path value is copied there"
      end
      if b and b.one_of then
        local alts = {}
        for _, a in ipairs(b.one_of) do alts[#alts + 1] = table.concat(a, " + ") end
        notes[#notes + 1] = "one of: " .. table.concat(alts, " | ")
      end
      if rec.paging then
        notes[#notes + 1] = ("pagination: %s (every item: `client.%s:each(\"%s\", {...})`)"):format(rec.paging,
          svc.service, name)
      end
      for _, h in ipairs(facts.ops[svc.service] and facts.ops[svc.service][name] or {}) do
        notes[#notes + 1] = "helper: " .. h
      end
      if rec.accept then notes[#notes + 1] = "answers " .. rec.accept .. ", not JSON" end
      if b and b.undeclared_required then
        notes[#notes + 1] = "the file also requires " .. table.concat(b.undeclared_required, ", ")
          .. ", which it never declares (not enforced)"
      end
      if #notes > 0 then w(table.concat(notes, "; ") .. ".") w("") end
      w("```lua")
      local ex = rec.example or {}
      if next(ex) == nil then
        w(("client.%s:%s()"):format(svc.service, name))
      else
        w(("client.%s:%s%s"):format(svc.service, name, to_lua(ex)))
      end
      w("```")
      w("")
    end
  end
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------
-- meta.lua: LuaLS (lua-language-server) annotations of every method, for
-- editors; nothing requires the file at run time. The classes the
-- hand-written code declares next to its functions (sendpulse.Client,
-- sendpulse.Service, sendpulse.Error, sendpulse.Meta, sendpulse.Handle, ...)
-- are completed here with what the data knows: a field per service on the
-- three forms of the client, a method per operation on each service class,
-- and the types of the answers, read from the files' 2xx JSON schemas.

local LUALS_TYPES = { string = "string", integer = "integer", number = "number", boolean = "boolean",
  array = "any[]", object = "table" }

local function luals_type(f)
  local t = LUALS_TYPES[f.type] or "any"
  if f.nullable and t ~= "any" then t = t .. "|sendpulse.null" end
  return t
end

-- A key of a LuaLS table or class field: a name, or ["quoted"] for one
-- that is not (a dot, a dash, a Lua keyword). nil for what cannot be
-- written at all (control characters).
local function field_key(name)
  if type(name) ~= "string" or name == "" or name:find("[%c\"\\]") then return nil end
  if name:match("^[%a_][%w_]*$") and not KEYWORDS[name] then return name end
  return '["' .. name .. '"]'
end

-- A part of a class name: letters, digits and _ only.
local function class_part(name)
  return (tostring(name):gsub("[^%w_]", "_"))
end

-- Nested schemas deeper than this are typed `table`: SendPulse's answers
-- nest at most 7 levels, and a $ref cycle ends at its class name anyway.
local MAX_TYPE_DEPTH = 16
-- Enums of at most this many plain values become a union of literals.
local MAX_LITERALS = 12

local function union(parts)
  local out, seen = {}, {}
  for _, p in ipairs(parts) do
    if p == "any" then return "any" end
    if not seen[p] then seen[p] = true; out[#out + 1] = p end
  end
  if #out == 0 then return "any" end
  return table.concat(out, "|")
end

local function array_of(t)
  if t:find("|", 1, true) then return "(" .. t .. ")[]" end
  return t .. "[]"
end

-- An enum as a union of literals, or nil.
local function literals(enum)
  if type(enum) ~= "table" or #enum == 0 or #enum > MAX_LITERALS then return nil end
  local out = {}
  for _, v in ipairs(enum) do
    if type(v) == "string" and not v:find("[%c\"\\]") then out[#out + 1] = '"' .. v .. '"'
    elseif math.type(v) == "integer" then out[#out + 1] = tostring(v)
    elseif type(v) == "boolean" then out[#out + 1] = tostring(v)
    elseif not is_null(v) then return nil end
  end
  return #out > 0 and union(out) or nil
end

-- A short example value for a field's description, or nil.
local function example_note(v)
  if type(v) == "number" or type(v) == "boolean" then return " e.g. " .. tostring(clean_example(v)) end
  if type(v) == "string" and #v <= 40 and not v:find("[%c\"\\]") and v:find("^[\32-\126]*$") then
    return ' e.g. "' .. v .. '"'
  end
  return nil
end

local Types = {}
Types.__index = Types

-- The types of one service's answers: `doc` resolves its $ref; classes
-- and aliases are collected as they are met.
local function new_types(svc)
  return setmetatable({ doc = svc.doc, service = svc.service, seen = {}, defs = {} }, Types)
end

function Types:define(name, lines)
  if self.seen[name] then fail("meta: class name %s made twice", name) end
  self.seen[name] = true
  self.defs[#self.defs + 1] = { name = name, lines = lines }
end

-- The only $ref of a schema that is nothing else: the component's name.
local function component_of(s)
  local ref = s["$ref"]
  if type(ref) ~= "string" then return nil end
  for k in pairs(s) do if k ~= "$ref" then return nil end end
  return ref:match("^#/components/schemas/([^/]+)$")
end

-- The LuaLS type of schema `s`; an object with properties becomes class
-- `name` (a component keeps its own name).
function Types:of(s, name, depth)
  if depth > MAX_TYPE_DEPTH or type(s) ~= "table" or is_null(s) then return "any" end
  local comp = component_of(s)
  if comp then
    local cls = "sendpulse." .. self.service .. "." .. class_part(comp)
    if self.seen[cls] == nil then
      self.seen[cls] = false      -- (being made: a reference back to it is its name)
      local t = self:of(self.doc:deref(s), cls, depth + 1)
      if t ~= cls then
        self.seen[cls] = nil
        self:define(cls, { ("---@alias %s %s"):format(cls, t) })
      end
    end
    return cls
  end
  s = self.doc:schema(s)
  local nullable = s.nullable == true
  local t = s.type
  if type(t) == "table" then
    local rest = {}
    for _, x in ipairs(t) do if x == "null" then nullable = true else rest[#rest + 1] = x end end
    if #rest == 1 then t = rest[1]
    else
      local parts = {}
      for _, x in ipairs(rest) do parts[#parts + 1] = LUALS_TYPES[x] or "any" end
      t = nil
      if #rest > 1 then return union(parts) .. (nullable and "|sendpulse.null" or "") end
    end
  end
  local out
  local alts = s.oneOf or s.anyOf
  if alts and not s.properties and t == nil then
    local parts = {}
    for i, alt in ipairs(alts) do
      local a = self:of(alt, name .. "_" .. i, depth + 1)
      if a == "nil" then nullable = true else parts[#parts + 1] = a end
    end
    out = union(parts)
  else
    if t == nil then
      if s.properties then t = "object" elseif s.items then t = "array"
      elseif type(s.enum) == "table" then t = select(1, self.doc:type_of(s)) end
    end
    if t == "object" then
      if type(s.properties) == "table" and next(s.properties) ~= nil then
        out = self:class(s, name, depth)
      elseif type(s.additionalProperties) == "table" then
        out = ("table<string, %s>"):format(self:of(s.additionalProperties, name .. ".value", depth + 1))
      else
        out = "table"
      end
    elseif t == "array" then
      out = array_of(self:of(s.items or {}, name .. ".item", depth + 1))
    elseif t == "string" or t == "integer" or t == "number" or t == "boolean" then
      out = literals(s.enum) or t
    elseif t == "null" then
      out = "nil"
    else
      out = "any"
    end
  end
  if nullable and out ~= "any" and out ~= "nil" then out = out .. "|sendpulse.null" end
  return out
end

-- Class `name` for an object schema: a field per property, optional unless
-- the schema requires it, with the file's example when it is short.
function Types:class(s, name, depth)
  if self.seen[name] then fail("meta: class name %s made twice", name) end
  self.seen[name] = false
  local required = {}
  for _, r in ipairs(s.required or {}) do required[r] = true end
  local lines = { "---@class " .. name }
  for _, p in ipairs(sorted_keys(s.properties)) do
    local key = field_key(p)
    if key then
      local ps = self.doc:schema(s.properties[p])
      local ft = self:of(s.properties[p], name .. "." .. class_part(p), depth + 1)
      lines[#lines + 1] = ("---@field %s%s %s%s"):format(key, required[p] and "" or "?", ft,
        example_note(ps.example) or "")
    end
  end
  self.seen[name] = nil
  self:define(name, lines)
  return name
end

-- What an operation's method returns on success, as a type: the JSON
-- answer's, a report file's bytes, or what a helper of the same name makes
-- of the answer (helpers.normalised, helpers.batched).
local function answer_type(types, svc, name, rec, helpers)
  local alias = ("sendpulse.answer.%s.%s"):format(svc.service, name)
  local key = svc.service .. ":" .. name
  local schema = svc.answers and svc.answers[name]
  local t
  if rec.accept and not rec.accept:find("json", 1, true) then
    t = "string"
  elseif schema then
    if helpers.normalised[key] then
      local s = types.doc:schema(schema)
      schema = s.items or schema
    end
    t = types:of(schema, alias, 0)
  else
    t = "any"
  end
  if helpers.batched[key] == "report" then t = union { t, "sendpulse.BatchReport" } end
  if t ~= alias then types:define(alias, { ("---@alias %s %s"):format(alias, t) }) end
  return alias
end

local function meta(services, extra, facts)
  local out = {}
  local function w(s) out[#out + 1] = s end
  local helpers = { normalised = {}, batched = {} }
  for _, n in ipairs(facts.normalised) do helpers.normalised[n[1] .. ":" .. n[2]] = true end
  for _, l in ipairs(facts.batched) do helpers.batched[l[1] .. ":" .. l[2]] = l[5] and "records" or "report" end
  w("---@meta")
  w("-- generated by spec/tools/gen_api.lua from sendpulse-*-openapi.yml and extra.lua; do not edit.")
  w("-- LuaLS (lua-language-server) annotations of client.<service>:<operation>(args) in its three forms")
  w("-- (raising, sendpulse.safe, client:async()), with the answers' types read from the files' 2xx JSON")
  w("-- schemas; see REFERENCE.md, and docs/guide.md (\"Completion in editors\"). Nothing requires this")
  w("-- file: it only helps editors. The classes it completes are declared next to their code.")
  w("")
  w("---@class sendpulse.CallOptions the second table of every method (see REFERENCE.md)")
  for _, row in ipairs(CALL_OPTION_DOCS) do
    w(("---@field %s? %s %s"):format(row[1], row[3], (row[2]:gsub("\n", " "):gsub("`", ""))))
  end
  w("")
  local forms = {
    { "sendpulse.Client", "sendpulse.api." },
    { "sendpulse.SafeClient", "sendpulse.safe_api." },
    { "sendpulse.AsyncClient", "sendpulse.async_api." },
  }
  for _, form in ipairs(forms) do
    w("---@class " .. form[1])
    for _, svc in ipairs(services) do
      w(("---@field %s %s%s %s"):format(svc.service, form[2], svc.service, svc.title))
    end
    w("")
  end
  local counts = { operations = 0, deprecated = 0, typed = 0 }
  for _, svc in ipairs(services) do
    local types = new_types(svc)
    local raising, safe, async = "sendpulse.api." .. svc.service, "sendpulse.safe_api." .. svc.service,
      "sendpulse.async_api." .. svc.service
    local all = {}
    for name, rec in pairs(svc.operations) do all[name] = rec end
    for name, rec in pairs(extra[svc.service] and extra[svc.service].operations or {}) do all[name] = rec end
    local safe_lines = { ("---@class %s : sendpulse.SafeService"):format(safe) }
    local async_lines = { ("---@class %s : sendpulse.AsyncService"):format(async) }
    local arg_lines = {}
    w(("---@class %s : sendpulse.Service"):format(raising))
    w(("local %s = {}"):format(svc.service))
    w("")
    for _, name in ipairs(sorted_keys(all)) do
      local rec = all[name]
      counts.operations = counts.operations + 1
      local fields, required = {}, false
      local function add(f)
        local key = field_key(f.name)
        if key and key == f.name then
          fields[#fields + 1] = ("%s%s: %s"):format(f.name, f.required and "" or "?", luals_type(f))
        end
        if f.required then required = true end
      end
      for _, f in ipairs(rec.path_params or {}) do add(f) end
      for _, f in ipairs(rec.query or {}) do add(f) end
      local b = rec.body
      if b and b.raw then add({ name = "body", type = b.type, required = b.required })
      elseif b then
        for _, f in ipairs(b.fields or {}) do if not f.from_path then add(f) end end
      end
      if helpers.batched[svc.service .. ":" .. name] then fields[#fields + 1] = "batch_size?: integer" end
      fields[#fields + 1] = "[string]: any"
      local args_type = ("sendpulse.args.%s.%s"):format(svc.service, name)
      arg_lines[#arg_lines + 1] = ("---@alias %s { %s }"):format(args_type, table.concat(fields, ", "))
      local answer = answer_type(types, svc, name, rec, helpers)
      if (svc.answers and svc.answers[name]) or rec.accept then counts.typed = counts.typed + 1 end
      local opt = required and "" or "?"
      if rec.summary then w("--- " .. rec.summary:gsub("\n", " ")) end
      w(("--- `%s %s%s`"):format(rec.method, svc.base, rec.path))
      if rec.deprecated then
        w("---@deprecated")
        counts.deprecated = counts.deprecated + 1
      end
      w(("---@param args%s %s"):format(opt, args_type))
      w("---@param call_opts? sendpulse.CallOptions")
      w(("---@return %s value"):format(answer))
      w("---@return sendpulse.Meta meta")
      w(("function %s:%s(args, call_opts) end"):format(svc.service, name))
      w("")
      safe_lines[#safe_lines + 1] = ("---@field %s fun(self: %s, args%s: %s, call_opts?: sendpulse.CallOptions):"
        .. " %s?, sendpulse.Error?, sendpulse.Meta?"):format(name, safe, opt, args_type, answer)
      async_lines[#async_lines + 1] = ("---@field %s fun(self: %s, args%s: %s, call_opts?: sendpulse.CallOptions):"
        .. " sendpulse.Handle"):format(name, async, opt, args_type)
    end
    for _, lines in ipairs { safe_lines, async_lines } do
      for _, l in ipairs(lines) do w(l) end
      w("")
    end
    for _, l in ipairs(arg_lines) do w(l) end
    w("")
    table.sort(types.defs, function(a, b) return a.name < b.name end)
    for _, d in ipairs(types.defs) do
      for _, l in ipairs(d.lines) do w(l) end
      w("")
    end
  end
  return table.concat(out, "\n"), counts
end

---------------------------------------------------------------------------
-- main

local function generate(root)
  local services, total = {}, 0
  local extra_path = root .. "/lua/sendpulse/api/extra.lua"
  local extra = {}
  if read_file(extra_path) then extra = dofile(extra_path) end
  local files = {}
  for _, s in ipairs(SERVICES) do
    local svc = load_service(s[1], s[2])
    services[#services + 1] = svc
    total = total + svc.count
    for _, msg in ipairs(svc.warnings) do io.stderr:write("gen_api: warning: ", svc.source, ": ", msg, "\n") end
    for name in pairs((extra[svc.service] or {}).operations or {}) do
      if svc.operations[name] then
        fail("extra.lua: %s:%s is also generated from %s", svc.service, name, svc.source)
      end
    end
    files["lua/sendpulse/api/" .. svc.service .. ".lua"] = service_file(svc)
  end
  for name in pairs(extra) do
    local known = false
    for _, s in ipairs(SERVICES) do if s[1] == name then known = true end end
    if not known then fail("extra.lua: unknown service %s", name) end
  end
  files["lua/sendpulse/api/init.lua"] = index_file(services, total)
  local facts = helper_facts(root)
  files["lua/sendpulse/api/REFERENCE.md"] = reference(services, extra, total, facts) .. "\n"
  files["lua/sendpulse/api/meta.lua"] = meta(services, extra, facts)
  return files, total
end

local function main(argv)
  local check = false
  for _, a in ipairs(argv) do
    if a == "--check" then check = true
    else
      print("usage: lua5.4 spec/tools/gen_api.lua [--check]")
      os.exit(a == "-h" or a == "--help" and 0 or 2)
    end
  end
  local root = script_dir() .. "/../.."
  local files, total = generate(root)
  local names = sorted_keys(files)
  if check then
    local bad = {}
    for _, rel in ipairs(names) do
      if read_file(root .. "/" .. rel) ~= files[rel] then bad[#bad + 1] = rel end
    end
    -- generated files that no longer have a source
    local p = io.popen('ls "' .. root .. '/lua/sendpulse/api" 2>/dev/null')
    if p then
      for f in p:lines() do
        local rel = "lua/sendpulse/api/" .. f
        if f ~= "extra.lua" and not files[rel] then
          local text = read_file(root .. "/" .. rel) or ""
          if text:find("generated by spec/tools/gen_api.lua", 1, true) then bad[#bad + 1] = rel .. " (stale)" end
        end
      end
      p:close()
    end
    if #bad > 0 then
      io.stderr:write("gen_api: out of date (run lua spec/tools/gen_api.lua):\n")
      for _, f in ipairs(bad) do io.stderr:write("  ", f, "\n") end
      os.exit(1)
    end
    print(("gen_api: %d files up to date, %d operations"):format(#names, total))
    return
  end
  os.execute('mkdir -p "' .. root .. '/lua/sendpulse/api"')
  for _, rel in ipairs(names) do
    local path = root .. "/" .. rel
    if read_file(path) ~= files[rel] then write_file(path, files[rel]) end
  end
  print(("gen_api: wrote %d files, %d operations"):format(#names, total))
end

-- Loaded with require "tools.gen_api" (spec/api_data_spec.lua): the parts,
-- for tests on small hand-made files. Run as a script: generate or check.
if ... == "tools.gen_api" then
  return {
    snake = snake,
    load_service = load_service,
    to_lua = to_lua,
    RENAMES = RENAMES,
  }
end

local ok, err = pcall(main, arg or {})
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end
