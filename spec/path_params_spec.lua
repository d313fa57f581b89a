-- No path parameter of any operation can change the shape of its path
-- (issue 10, item 1). `client.crm:remove_deal_contact{ dealId = "..",
-- contactId = 7 }` used to send DELETE /crm/v1/deals/../contacts/7, which a
-- normaliser anywhere on the way (libcurl before CURLOPT_PATH_AS_IS, a
-- proxy, the server) turns into DELETE /crm/v1/contacts/7: another
-- operation, on another object.
--
-- The scan below goes through every operation of every service, finds the
-- operation/parameter pairs where "." or ".." would land on another
-- operation with the same method, and calls every operation with ".", ".."
-- and "" in each path parameter through a real client pointed at the
-- hostile server's echo mode: each call must be refused with an argument
-- error naming the parameter, before any I/O (no hook event, no
-- connection). For the dangerous pairs a plain id must still go out, the
-- path exactly as built.
local safe = require "sendpulse.safe"
local json = require "sendpulse.json"
local core = require "sendpulse.core"
local operations = require "sendpulse.operations"
local hostile = require "support.hostile_server"

-- RFC 3986 5.2.4, what a normaliser does to a path.
local function remove_dot_segments(path)
  local out = {}
  local segments = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do segments[#segments + 1] = seg end
  for i, seg in ipairs(segments) do
    if seg == ".." then
      if #out > 1 then out[#out] = nil end
      if i == #segments then out[#out + 1] = "" end
    elseif seg == "." then
      if i == #segments then out[#out + 1] = "" end
    else
      out[#out + 1] = seg
    end
  end
  return table.concat(out, "/")
end

local function template_pattern(template)
  local p = template:gsub("[%-%.%+%*%?%^%$%%%[%]%(%)]", "%%%0"):gsub("{[^}]+}", "[^/]+")
  return "^" .. p .. "$"
end

-- Every operation: { service, name, op, template (base path + path) }.
local function all_operations()
  local list = {}
  for _, service in ipairs(operations.services()) do
    local base = operations.base(service)
    for _, name in ipairs(operations.operations(service)) do
      local op = operations.operation(service, name)
      list[#list + 1] = { service = service, name = name, op = op, template = base .. op.path }
    end
  end
  return list
end

local function fill(template, values)
  return (template:gsub("{([^}]+)}", function(name) return values[name] or "1" end))
end

-- The pairs where value ("." or "..") in parameter `param` sends the
-- request to another operation of the same method.
local function redirects(list)
  local by_method = {}
  for _, o in ipairs(list) do
    local l = by_method[o.op.method] or {}
    l[#l + 1] = o
    by_method[o.op.method] = l
  end
  local found = {}
  for _, o in ipairs(list) do
    for _, p in ipairs(o.op.path_params or {}) do
      for _, value in ipairs { "..", "." } do
        local normal = remove_dot_segments(fill(o.template, { [p.name] = value }))
        for _, other in ipairs(by_method[o.op.method]) do
          if other ~= o and normal:find(template_pattern(other.template)) then
            found[#found + 1] = { o = o, param = p.name, value = value, lands_on = other }
            break
          end
        end
      end
    end
  end
  return found
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

describe("path parameters", function()
  local hs, list

  lazy_setup(function()
    hs = hostile.start()
    list = all_operations()
  end)

  lazy_teardown(function()
    if hs then hs:stop() end
  end)

  it("the scan finds the operations a dot segment would redirect", function()
    local found = redirects(list)
    -- 47 on the files of issue 10; the count follows SendPulse's files
    print(("\n  %d operation/parameter pairs where '.' or '..' lands on another operation"):format(#found))
    assert.is_true(#found > 0, "the scan found nothing: the normaliser or the matching is broken")
    local seen = {}
    for _, f in ipairs(found) do seen[f.o.service .. ":" .. f.o.name .. "." .. f.param] = true end
    assert.is_true(seen["crm:remove_deal_contact.dealId"], "the example of the issue is among them")
  end)

  it("refuses '.', '..' and '' in every path parameter of every operation, before any I/O", function()
    local events = 0
    local client = assert(safe.new { api_key = "path-key", base_url = hs:url("echo_path"), rate_limit = false,
                                     retries = 0, hook = function() events = events + 1 end })
    local checked = 0
    for _, o in ipairs(list) do
      local method = operations.method(o.service, o.name)
      local service = client[o.service]
      for _, p in ipairs(o.op.path_params or {}) do
        for _, value in ipairs { ".", "..", "" } do
          local args = copy(o.op.example)
          args[p.name] = value
          local res, err = method(service, args)
          local where = ("%s:%s{ %s = %q }"):format(o.service, o.name, p.name, value)
          assert.is_nil(res, where .. " was sent")
          assert.equal("argument", err and err.kind, where)
          assert.matches("argument '" .. p.name .. "'", err.message, 1, true)
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 800, "only " .. checked .. " calls checked")
    assert.equal(0, events, "a refused call reached the transport")
    assert.equal(0, client:connections())
    client:close()
  end)

  it("sends an id in those parameters with the path exactly as built", function()
    local client = assert(safe.new { api_key = "path-key", base_url = hs:url("echo_path"), rate_limit = false,
                                     retries = 0 })
    local done = {}
    for _, f in ipairs(redirects(list)) do
      local key = f.o.service .. ":" .. f.o.name .. "." .. f.param
      if not done[key] then
        done[key] = true
        local args = copy(f.o.op.example)
        local declared
        for _, p in ipairs(f.o.op.path_params) do if p.name == f.param then declared = p.type end end
        -- dots inside a segment are an ordinary id (a numeric parameter
        -- takes digits only: its own test below)
        args[f.param] = (declared == "integer" or declared == "number") and "12" or "a.b"
        local values = {}
        for _, p in ipairs(f.o.op.path_params) do values[p.name] = core.urlencode(tostring(args[p.name])) end
        local value, err = operations.method(f.o.service, f.o.name)(client[f.o.service], args)
        if type(value) == "string" then value = json.decode(value) end   -- a download: raw bytes
        assert.is_table(value, key .. ": " .. tostring(err))
        local sent = value.path:match("^/m/echo_path/%-([^?]*)")
        assert.equal(fill(f.o.template, values), sent, key)
      end
    end
    client:close()
  end)

  it("refuses text that is not a number in every numeric path parameter, as the command line does, before any I/O",
    function()
    local events = 0
    local client = assert(safe.new { api_key = "path-key", base_url = hs:url("echo_path"), rate_limit = false,
                                     retries = 0, hook = function() events = events + 1 end })
    local checked = 0
    for _, o in ipairs(list) do
      local method = operations.method(o.service, o.name)
      local service = client[o.service]
      for _, p in ipairs(o.op.path_params or {}) do
        if p.type == "integer" or p.type == "number" then
          local rule = p.type == "integer" and "an integer (or a string of its digits)"
            or "a number (or a string of its digits)"
          for _, value in ipairs { "abc", "12a", " 12", "0x1F", "1e3", "12/34" } do
            local args = copy(o.op.example)
            args[p.name] = value
            local before = events
            local res, err = method(service, args)
            local where = ("%s:%s{ %s = %q }"):format(o.service, o.name, p.name, value)
            assert.is_nil(res, where .. " was sent")
            assert.equal(before, events, where .. " reached the transport")
            assert.equal(("%s:%s: argument '%s' must be %s, got %q"):format(o.service, o.name, p.name, rule, value),
              err and err.message, where)
            checked = checked + 1
          end
          -- its digits as text are the number
          local args = copy(o.op.example)
          args[p.name] = "1001"
          local value = method(service, args)
          if type(value) == "string" then value = json.decode(value) end
          assert.is_table(value, o.service .. ":" .. o.name)
          assert.matches("/1001", value.path, 1, true)
        end
      end
    end
    assert.is_true(checked > 1000, "only " .. checked .. " calls checked")
    client:close()
  end)
end)
