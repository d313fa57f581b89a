#!/usr/bin/env lua
-- Generates lua/sendpulse/sandbox/examples.lua: one example answer for every
-- operation of SendPulse's OpenAPI files, which the sandbox gives for the
-- operations it does not model with state (routes/examples.lua).
--
--   lua5.4 spec/tools/gen_sandbox_examples.lua [--check]
--
-- Reads the contract extracted from the files (spec/contract/openapi/). The
-- answer is the success response's `example`, else its first `examples`
-- entry (by name), else one built from its schema. The services and files are
-- those of lua/sendpulse/api/init.lua. --check exits 1 when the committed file
-- differs from what the extraction gives now. Output is sorted: it depends
-- only on the input.

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;" .. package.path

local openapi = require "contract.openapi"

local OUT = root .. "/lua/sendpulse/sandbox/examples.lua"
local MAX_DEPTH = 6

local check = false
for _, a in ipairs(arg or {}) do
  if a == "--check" then check = true
  else
    io.stderr:write("usage: lua5.4 spec/tools/gen_sandbox_examples.lua [--check]\n")
    os.exit(2)
  end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local NULL = openapi.null
-- marks an object built from a schema, so that an empty one stays {}
local OBJECT = {}

local function is_seq(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  return n == #t
end

local function deref(doc, node, seen)
  seen = seen or 0
  while type(node) == "table" and type(node["$ref"]) == "string" and seen < 20 do
    local target = doc
    for part in node["$ref"]:gsub("^#/", ""):gmatch("[^/]+") do
      part = part:gsub("~1", "/"):gsub("~0", "~")
      target = type(target) == "table" and target[part] or nil
    end
    if target == nil then return {} end   -- a missing schema (the bulk-email file's Error)
    node = target
    seen = seen + 1
  end
  return node
end

local function from_schema(doc, s, depth)
  s = deref(doc, s)
  if type(s) ~= "table" then return NULL end
  if s.example ~= nil then return s.example end
  if type(s.examples) == "table" and s.examples[1] ~= nil then return s.examples[1] end
  if s.const ~= nil then return s.const end
  if type(s.enum) == "table" and s.enum[1] ~= nil then return s.enum[1] end
  if depth > MAX_DEPTH then return NULL end
  if type(s.allOf) == "table" then
    local merged = setmetatable({}, OBJECT)
    for _, part in ipairs(s.allOf) do
      local v = from_schema(doc, part, depth + 1)
      if type(v) == "table" and not is_seq(v) then
        for k, x in pairs(v) do merged[k] = x end
      end
    end
    return merged
  end
  for _, key in ipairs { "oneOf", "anyOf" } do
    if type(s[key]) == "table" and s[key][1] ~= nil then return from_schema(doc, s[key][1], depth + 1) end
  end
  local t = s.type
  if type(t) == "table" then
    for _, x in ipairs(t) do if x ~= "null" then t = x break end end
  end
  if t == "object" or (t == nil and type(s.properties) == "table") then
    local out = setmetatable({}, OBJECT)
    for _, k in ipairs(sorted_keys(s.properties or {})) do
      out[k] = from_schema(doc, s.properties[k], depth + 1)
    end
    return out
  elseif t == "array" then
    local item = from_schema(doc, s.items or {}, depth + 1)
    return { item }
  elseif t == "string" then
    local f = s.format
    if f == "date-time" then return "2024-01-01T00:00:00Z" end
    if f == "date" then return "2024-01-01" end
    if f == "email" then return "user@example.com" end
    if f == "uri" or f == "url" then return "https://example.com" end
    return "example"
  elseif t == "integer" then return 1
  elseif t == "number" then return 1
  elseif t == "boolean" then return true
  end
  return NULL
end

local SUCCESS = { "200", "201", "202", "204" }

local function answer_of(doc, op)
  local responses = op.responses
  if type(responses) ~= "table" then return nil end
  for _, code in ipairs(SUCCESS) do
    local r = deref(doc, responses[code] or responses[tonumber(code)])
    if type(r) == "table" then
      local content = type(r.content) == "table" and r.content or {}
      local media = content["application/json"]
      if media == nil then
        local keys = sorted_keys(content)
        media = keys[1] and content[keys[1]]
      end
      if type(media) ~= "table" then return { result = true } end
      if media.example ~= nil then return media.example end
      if type(media.examples) == "table" then
        local keys = sorted_keys(media.examples)
        if keys[1] then
          local ex = deref(doc, media.examples[keys[1]])
          if type(ex) == "table" and ex.value ~= nil then return ex.value end
        end
      end
      if media.schema ~= nil then return from_schema(doc, media.schema, 0) end
      return { result = true }
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- output

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return then true"
           .. " until while"):gmatch("%a+") do
  KEYWORDS[w] = true
end

local function lua_string(s) return string.format("%q", s):gsub("\\\n", "\\n") end

local function emit(v, out, indent)
  if v == NULL then out[#out + 1] = "N" return end
  local tv = type(v)
  if tv == "string" then out[#out + 1] = lua_string(v)
  elseif tv == "number" then
    if v == math.floor(v) and v > -2^53 and v < 2^53 then out[#out + 1] = string.format("%d", v)
    else out[#out + 1] = string.format("%.17g", v) end
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "table" then
    local pad = string.rep("  ", indent + 1)
    if getmetatable(v) == OBJECT and next(v) == nil then
      out[#out + 1] = "{}"
      return
    end
    if is_seq(v) then
      if #v == 0 then
        -- the extraction tells [] (marked as an array) from {}
        out[#out + 1] = getmetatable(v) == openapi.ARRAY and "A{}" or "{}"
        return
      end
      out[#out + 1] = "A{\n"
      for _, x in ipairs(v) do
        out[#out + 1] = pad
        emit(x, out, indent + 1)
        out[#out + 1] = ",\n"
      end
    else
      out[#out + 1] = "{\n"
      for _, k in ipairs(sorted_keys(v)) do
        out[#out + 1] = pad
        if type(k) == "string" and k:find("^[%a_][%w_]*$") and not KEYWORDS[k] then
          out[#out + 1] = k .. " = "
        else
          out[#out + 1] = "[" .. (type(k) == "string" and lua_string(k) or tostring(k)) .. "] = "
        end
        emit(v[k], out, indent + 1)
        out[#out + 1] = ",\n"
      end
    end
    out[#out + 1] = string.rep("  ", indent) .. "}"
  else
    out[#out + 1] = "N"
  end
end

local index = require "sendpulse.api"
local METHODS = { "get", "put", "post", "delete", "patch" }

local out = {
  "-- generated by spec/tools/gen_sandbox_examples.lua from SendPulse's OpenAPI files; do not edit.\n",
  "-- service -> \"METHOD /path\" (path without the service's base) -> example answer.\n",
  "local json = require \"sendpulse.sandbox.json\"\n",
  "local A, N = json.array, json.null\n",
  "return {\n",
}
local count = 0
for _, service in ipairs(sorted_keys(index.services)) do
  local entry = index.services[service]
  local doc = openapi.load(entry.source:match("^sendpulse%-(.+)%-openapi%.yml$"))
  local answers = {}
  for path, item in pairs(doc.paths or {}) do
    for _, m in ipairs(METHODS) do
      local op = item[m]
      if type(op) == "table" then
        local a = answer_of(doc, op)
        if a == nil then a = { result = true } end
        answers[m:upper() .. " " .. path] = a
        count = count + 1
      end
    end
  end
  out[#out + 1] = "  " .. service .. " = "
  emit(answers, out, 1)
  out[#out + 1] = ",\n"
end
out[#out + 1] = "}\n"
local text = table.concat(out)

if check then
  local f = io.open(OUT, "rb")
  local old = f and f:read("*a")
  if f then f:close() end
  if old ~= text then
    io.stderr:write("gen_sandbox_examples: ", OUT, " is stale: run lua spec/tools/gen_sandbox_examples.lua\n")
    os.exit(1)
  end
  print(string.format("gen_sandbox_examples: up to date (%d operations)", count))
else
  local f = assert(io.open(OUT, "wb"))
  f:write(text)
  f:close()
  print(string.format("gen_sandbox_examples: wrote %s (%d operations)", OUT, count))
end
