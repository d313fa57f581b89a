--- Types for editors: the LuaLS (lua-language-server) annotations of the
-- public surface (docs/guide.md, "Completion in editors").
--
-- lua-language-server is neither in Debian 12 nor on npm, so its --check
-- cannot run here (an install step may not download a binary of its own).
-- This spec checks what completion and its diagnostics rest on:
--   * every function of the public modules (PUBLIC below, which must be the
--     guide's list), and every method of the objects they make, has an
--     annotation right above its definition whose ---@param names are the
--     function's own parameters, in order (read from the function itself,
--     with the debug library, not from its text);
--   * each `---@field name fun(self: ...)` of the safe and async forms and of
--     the store interfaces names the parameters of the function it describes;
--   * every annotation under lua/ parses, and every class or alias it names
--     is a LuaLS builtin or defined under lua/;
--   * meta.lua (generated) declares every operation once, with the
--     parameters of the methods sendpulse.operations builds, and marks
--     exactly the deprecated operations ---@deprecated;
--   * the guide's editor settings are what they claim (the JSON decodes,
--     the Neovim snippet runs against a stand-in lspconfig).
-- Tagged #once: it reads the repository, the same under every Lua.

local json = require "sendpulse.json"
local catalog = require "sendpulse.operations.catalog"
local service_objects = require "sendpulse.operations.service"
local docs = require "support.docs"

-- The public modules, as docs/guide.md lists them ("Completion in editors").
local PUBLIC = {
  "sendpulse", "sendpulse.safe", "sendpulse.webhooks", "sendpulse.outbox", "sendpulse.outbox.nginx",
  "sendpulse.metrics", "sendpulse.idempotency",
}

-- Type names LuaLS knows without a definition.
local BUILTIN = {}
for w in ([[nil any boolean string number integer function table thread userdata lightuserdata
            unknown self true false file* fun]]):gmatch("%S+") do BUILTIN[w] = true end

---------------------------------------------------------------------------
-- the sources and their annotations

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local line_cache = {}
local function lines_of(path)
  local lines = line_cache[path]
  if not lines then
    lines = {}
    for l in (read(path) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
    line_cache[path] = lines
  end
  return lines
end

local function lua_files()
  local p = assert(io.popen("find lua -name '*.lua' | sort"))
  local list = {}
  for f in p:lines() do list[#list + 1] = f end
  p:close()
  return list
end

-- The comment lines right above line `n` of `path`, in order.
local function block_above(path, n)
  local lines = lines_of(path)
  local block = {}
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    table.insert(block, 1, lines[i])
    i = i - 1
  end
  return block
end

-- The names of the ---@param lines of a block, in order.
local function annotated_params(block)
  local names = {}
  for _, l in ipairs(block) do
    local name = l:match("^%s*%-%-%-@param%s+([%w_]+)") or l:match("^%s*%-%-%-@param%s+(%.%.%.)")
    if name then names[#names + 1] = name end
  end
  return names
end

local function has_doc(block)
  for _, l in ipairs(block) do
    if l:match("^%s*%-%-%-") then return true end
  end
  return false
end

---------------------------------------------------------------------------
-- functions, from the running code

local function upvalue(fn, name)
  for i = 1, 255 do
    local n, v = debug.getupvalue(fn, i)
    if n == nil then return nil end
    if n == name then return v end
  end
end

-- A function's parameters, by name ("..." last when it takes more).
local function params_of(fn)
  local info = debug.getinfo(fn, "u")
  local names = {}
  for i = 1, info.nparams do names[i] = debug.getlocal(fn, i) end
  if info.isvararg then names[#names + 1] = "..." end
  return names
end

-- The function a wrapper stands for: the client's check that a method is
-- called with ':' (sendpulse.client, upvalue fn), a service object's
-- binding (sendpulse.operations.service, fn), bulk's load on first use
-- (module, name). A wrapper takes (self, ...) or (...).
local function unwrap(fn)
  for _ = 1, 4 do
    local p = table.concat(params_of(fn), ",")
    if p ~= "self,..." and p ~= "..." then return fn end
    local inner = upvalue(fn, "fn")
    local module, name = upvalue(fn, "module"), upvalue(fn, "name")
    if type(inner) == "function" then fn = inner
    elseif type(module) == "string" and type(name) == "string" then fn = require(module)[name]
    else return fn end
  end
  return fn
end

-- Where a Lua function is defined: path (from the repository root), line.
local function site(fn)
  local info = debug.getinfo(fn, "S")
  if info.what ~= "Lua" then return nil end
  local path = info.source:match("^@(.*)$")
  path = path and path:match("(lua/sendpulse.*)$") or path
  return path, info.linedefined
end

local function methods_of(class)
  local out = {}
  for k, v in pairs(class) do
    if type(v) == "function" and not tostring(k):match("^__") then out[k] = v end
  end
  return out
end

-- Every public function: { label =, fn = }.
local function public_functions()
  local list, seen = {}, {}
  local function add(label, fn)
    fn = unwrap(fn)
    if seen[fn] or not site(fn) then return end
    seen[fn] = true
    list[#list + 1] = { label = label, fn = fn }
  end
  local function walk(prefix, t, depth)
    for k, v in pairs(t) do
      if type(v) == "function" then add(prefix .. "." .. tostring(k), v)
      elseif type(v) == "table" and depth < 2 and getmetatable(v) == nil then
        walk(prefix .. "." .. tostring(k), v, depth + 1)
      end
    end
  end
  for _, m in ipairs(PUBLIC) do walk(m, require(m), 1) end
  local classes = {
    ["client"] = require("sendpulse.client").Client,
    ["handle"] = require("sendpulse.transport.loop").Handle,
    ["webhooks receiver"] = require("sendpulse.webhooks.receiver").Receiver,
    ["webhooks nginx handler"] = upvalue(require("sendpulse.webhooks.nginx").new, "Handler"),
    ["outbox"] = upvalue(require("sendpulse.outbox").new, "Outbox"),
    ["metrics"] = upvalue(require("sendpulse.metrics").new, "Metrics"),
    ["idempotency ledger"] = upvalue(require("sendpulse.idempotency").new, "Ledger"),
  }
  for _, s in ipairs { "memory", "file", "redis" } do
    classes["webhooks store " .. s] = upvalue(require("sendpulse.webhooks.stores." .. s).new, "Store")
  end
  classes["webhooks store shared_dict"] = upvalue(require("sendpulse.webhooks.stores.shared_dict").open, "Store")
  for label, class in pairs(classes) do
    assert(type(class) == "table", label .. ": its method table was not found")
    for k, fn in pairs(methods_of(class)) do add(label .. ":" .. k, fn) end
  end
  -- The helpers of the services (each, all, raw, patient, smtp:send,
  -- email:import, the batches, the Base64 wrappers), as registered.
  require("sendpulse.helpers").register(function(service, name, fn)
    add(service .. ":" .. name, fn)
  end)
  return list
end

-- The helpers a service has, by name (as registered).
local function helpers_of(service)
  local out = {}
  require("sendpulse.helpers").register(function(s, name, fn)
    if s == service then out[name] = unwrap(fn) end
  end)
  return out
end

---------------------------------------------------------------------------
-- LuaLS type expressions: a parser for the part of the syntax the
-- annotations use (names, literals, unions, ?, [], table<K, V>, { k: T },
-- fun(a: T): R, parentheses), collecting the names it meets.

local Parser = {}
Parser.__index = Parser

local function parser(text)
  return setmetatable({ s = text, i = 1 }, Parser)
end

function Parser:skip()
  self.i = self.s:find("[^ \t]", self.i) or #self.s + 1
end

function Parser:peek(pattern)
  self:skip()
  return self.s:match("^" .. pattern, self.i)
end

function Parser:take(pattern)
  self:skip()
  local m = self.s:match("^" .. pattern, self.i)
  if m then self.i = self.i + #m end
  return m
end

function Parser:expect(sym)
  if not self:take(sym:gsub("%p", "%%%0")) then
    error(("expected '%s' at %q"):format(sym, self.s:sub(self.i, self.i + 30)), 0)
  end
end

local NAME = "[%a_][%w_%.%*]*"

function Parser:type(names)
  self:unit(names)
  while self:take("|") do self:unit(names) end
end

function Parser:unit(names)
  self:primary(names)
  -- (an array, optional)
  while self:take("%[%]") or self:take("%?") do end
end

function Parser:fields(names)
  -- { key: T, key?: T, [K]: T }
  while not self:take("}") do
    if self:take("%[") then
      self:type(names)
      self:expect("]")
    elseif not self:take(NAME) then
      error(("a field name expected at %q"):format(self.s:sub(self.i, self.i + 30)), 0)
    end
    self:take("%?")
    self:expect(":")
    self:type(names)
    if not self:take(",") and not self:take(";") then self:expect("}") return end
  end
end

function Parser:fun(names)
  self:expect("(")
  if not self:take("%)") then
    repeat
      if not (self:take("%.%.%.") or self:take("[%a_][%w_]*")) then
        error(("an argument name expected at %q"):format(self.s:sub(self.i, self.i + 30)), 0)
      end
      self:take("%?")
      if self:take(":") then self:type(names) end
    until not self:take(",")
    self:expect(")")
  end
  if self:take(":") then
    local paren = self:take("%(")
    repeat
      -- a return may be named (name: T)
      local at = self.i
      if not (self:take("[%a_][%w_]*") and self:take(":")) then self.i = at end
      -- (... is any number of values)
      if not self:take("%.%.%.") then self:type(names) end
    until not self:take(",")
    if paren then self:expect(")") end
  end
end

function Parser:primary(names)
  if self:take('"[^"]*"') or self:take("'[^']*'") or self:take("%-?%d+") then
    return   -- a literal
  end
  if self:take("%(") then
    self:type(names)
    self:expect(")")
  elseif self:take("{") then
    self:fields(names)
  elseif self:peek("fun%(") then
    self:take("fun")
    self:fun(names)
  else
    local name = self:take(NAME)
    if not name then error(("a type expected at %q"):format(self.s:sub(self.i, self.i + 30)), 0) end
    names[#names + 1] = name
    if self:take("<") then
      repeat self:type(names) until not self:take(",")
      self:expect(">")
    end
  end
end

-- The annotations of every file under lua/: what they define, and every
-- type name they use, with the line it is on.
local function annotations()
  local defined, uses, errors, fields = {}, {}, {}, {}
  for _, path in ipairs(lua_files()) do
    local lines = lines_of(path)
    local generics = {}
    local class = nil
    for n, line in ipairs(lines) do
      local tag, rest = line:match("^%s*%-%-%-@(%a+)%s*(.*)$")
      if not line:match("^%s*%-%-") then generics, class = {}, nil end
      -- the text of a tag runs on over the ---   lines after it
      local function with_continuation()
        local text, j = rest, n + 1
        while lines[j] and lines[j]:match("^%s*%-%-%-[^@]") do
          text = text .. " " .. lines[j]:match("^%s*%-%-%-%|?(.*)$")
          j = j + 1
        end
        return text
      end
      local function parse(text, what)
        local names = {}
        local ok, err = pcall(function()
          local p = parser(text)
          p:type(names)
          return p
        end)
        if not ok then
          errors[#errors + 1] = ("%s:%d: %s: %s"):format(path, n, what, err)
          return
        end
        for _, name in ipairs(names) do
          if not BUILTIN[name] and not generics[name] then
            uses[#uses + 1] = { name = name, where = path .. ":" .. n }
          end
        end
      end
      if tag == "class" then
        local name, parents = rest:match("^([%w_%.]+)%s*:%s*([%w_%.,%s]+)")
        name = name or rest:match("^([%w_%.]+)")
        defined[name] = path .. ":" .. n
        class = name
        fields[name] = fields[name] or {}
        for parent in (parents or ""):gmatch("[%w_%.]+") do
          uses[#uses + 1] = { name = parent, where = path .. ":" .. n }
        end
      elseif tag == "alias" then
        local name, text = rest:match("^([%w_%.]+)%s*(.*)$")
        defined[name] = path .. ":" .. n
        if text ~= "" then parse(text, "alias") end
        local j = n + 1
        while lines[j] and lines[j]:match("^%s*%-%-%-|") do
          parse(lines[j]:match("^%s*%-%-%-|%s*(.*)$"), "alias value")
          j = j + 1
        end
      elseif tag == "enum" then
        defined[rest:match("^([%w_%.]+)")] = path .. ":" .. n
      elseif tag == "generic" then
        for name in rest:gsub(":%s*[%w_%.]+", ""):gmatch("[%a_][%w_]*") do generics[name] = true end
      elseif tag == "param" then
        local text = with_continuation()
        local _, after = text:match("^()[%w_%.]+%??%s()")
        if not after then errors[#errors + 1] = ("%s:%d: a param without a type"):format(path, n)
        else parse(text:sub(after), "param") end
      elseif tag == "return" or tag == "type" then
        parse(with_continuation(), tag)
      elseif tag == "field" then
        local text = with_continuation()
        local name, after = text:match("^([%w_]+)%??%s()")
        if not name then name, after = text:match('^%[("[^"]*")%]%??%s()') end
        if not after then errors[#errors + 1] = ("%s:%d: a field without a name and a type"):format(path, n)
        else
          parse(text:sub(after), "field")
          if class then fields[class][#fields[class] + 1] = { name = name, text = text:sub(after),
            where = path .. ":" .. n } end
        end
      end
    end
  end
  return defined, uses, errors, fields
end

-- The argument names of the fun(...) a field declares, or nil.
local function fun_args(text)
  local inside = text:match("^fun(%b())")
  if not inside then return nil end
  inside = inside:sub(2, -2)
  local names, optional, depth, start = {}, {}, 0, 1
  local function arg(piece)
    local name = piece:match("^%s*([%a_][%w_]*)") or piece:match("^%s*(%.%.%.)")
    if name then
      names[#names + 1] = name
      optional[#names] = piece:match("^%s*[%w_.]+%?") ~= nil
    end
  end
  for i = 1, #inside do
    local c = inside:sub(i, i)
    if c == "(" or c == "{" or c == "<" then depth = depth + 1
    elseif c == ")" or c == "}" or c == ">" then depth = depth - 1
    elseif c == "," and depth == 0 then
      arg(inside:sub(start, i - 1))
      start = i + 1
    end
  end
  if inside:find("%S") then arg(inside:sub(start)) end
  return names, optional
end

---------------------------------------------------------------------------

describe("types for editors #once", function()
  local defined, uses, errors, fields = annotations()

  it("lists the guide's public modules", function()
    local listed = {}
    local text = read("docs/guide.md")
    local section = assert(text:match("\n## Completion in editors\n(.-)\n## ") or
      text:match("\n## Completion in editors\n(.*)$"), "docs/guide.md has no section \"Completion in editors\"")
    for module in section:gmatch("\n| `(sendpulse[%w_.]*)` |") do listed[#listed + 1] = module end
    assert.same(PUBLIC, listed)
  end)

  it("annotates every public function with its parameters, by name and in order", function()
    local list = public_functions()
    assert.is_true(#list > 80, "only " .. #list .. " public functions found")
    local bad = {}
    for _, entry in ipairs(list) do
      local path, line = site(entry.fn)
      local block = block_above(path, line)
      local code = params_of(entry.fn)
      local named = annotated_params(block)
      if code[1] == "self" and named[1] ~= "self" then table.remove(code, 1) end
      local where = ("%s (%s:%d)"):format(entry.label, path, line)
      if not has_doc(block) then
        bad[#bad + 1] = where .. ": no annotation"
      elseif table.concat(code, ", ") ~= table.concat(named, ", ") then
        bad[#bad + 1] = ("%s: ---@param %s, the code takes (%s)"):format(where, table.concat(named, ", "),
          table.concat(code, ", "))
      end
    end
    assert.same({}, bad)
  end)

  it("says sendpulse.new returns a sendpulse.Client, and the safe one a sendpulse.SafeClient", function()
    local function returns(fn)
      local path, line = site(fn)
      local out = {}
      for _, l in ipairs(block_above(path, line)) do
        out[#out + 1] = l:match("^%-%-%-@return%s+(%S+)")
      end
      return out
    end
    assert.same({ "sendpulse.Client" }, returns(require("sendpulse").new))
    assert.same({ "sendpulse.SafeClient?", "sendpulse.Error?" }, returns(require("sendpulse.safe").new))
  end)

  it("parses every annotation, and every type it names is defined", function()
    assert.same({}, errors)
    local missing = {}
    for _, u in ipairs(uses) do
      if not defined[u.name] then missing[#missing + 1] = u.where .. ": " .. u.name end
    end
    assert.same({}, missing)
    -- (and the parser sees what it should: a few of the names it must find)
    for _, name in ipairs { "sendpulse.Client", "sendpulse.SafeClient", "sendpulse.AsyncClient", "sendpulse.Error",
      "sendpulse.Meta", "sendpulse.Handle", "sendpulse.Service", "sendpulse.email.MailingList",
      "sendpulse.webhooks.Event", "sendpulse.Outbox", "sendpulse.Metrics" } do
      assert.truthy(defined[name], name)
    end
  end)

  it("names, in each fun(self, ...) of the safe and async forms and the interfaces, the code's parameters", function()
    local client_methods = {}
    for k, fn in pairs(methods_of(require("sendpulse.client").Client)) do client_methods[k] = unwrap(fn) end
    local helpers = helpers_of("email")
    -- An interface's every implementation: one may leave out trailing
    -- arguments the interface marks optional (it does not use them).
    local function stores(family, list, constructor)
      local out = {}
      for _, name in ipairs(list) do
        local module = require(family .. name)
        out[#out + 1] = methods_of(assert(upvalue(module[constructor or "new"], "Store"), family .. name))
      end
      return out
    end
    local interfaces = {
      ["sendpulse.OutboxStore"] = stores("sendpulse.outbox.", { "file_store", "redis_store" }),
      ["sendpulse.webhooks.Store"] = stores("sendpulse.webhooks.stores.", { "memory", "file", "redis" }),
      ["sendpulse.idempotency.Store"] = stores("sendpulse.idempotency.stores.",
        { "memory", "file", "redis", "shared_dict" }),
    }
    table.insert(interfaces["sendpulse.webhooks.Store"],
      methods_of(upvalue(require("sendpulse.webhooks.stores.shared_dict").open, "Store")))
    local function code_for(class, name)
      if class == "sendpulse.SafeClient" or class == "sendpulse.AsyncClient" then return { client_methods[name] } end
      if class == "sendpulse.SafeService" or class == "sendpulse.AsyncService" then return { helpers[name] } end
      if interfaces[class] then
        local fns = {}
        for _, impl in ipairs(interfaces[class]) do fns[#fns + 1] = impl[name] end
        return #fns == #interfaces[class] and fns or nil
      end
      local service = class:match("^sendpulse%.safe_api%.([%w_]+)$") or class:match("^sendpulse%.async_api%.([%w_]+)$")
        or class:match("^sendpulse%.api%.([%w_]+)$")
      if service then
        return { helpers_of(service)[name] or service_objects.method(service, name) }
      end
    end
    local bad, checked = {}, 0
    for class, list in pairs(fields) do
      for _, f in ipairs(list) do
        local args, optional = fun_args(f.text)
        if args and args[1] == "self" then
          local fns = code_for(class, f.name)
          if not fns or #fns == 0 then
            bad[#bad + 1] = ("%s: %s.%s describes no function this spec knows"):format(f.where, class, f.name)
          else
            for _, fn in ipairs(fns) do
              local code = params_of(fn)
              checked = checked + 1
              -- (the receiver first, whatever its name; an implementation
              -- may stop before optional trailing arguments)
              local same = #code <= #args
              for i = 2, #args do
                if code[i] == nil then same = same and optional[i]
                else same = same and code[i] == args[i] end
              end
              if not same then
                bad[#bad + 1] = ("%s: %s.%s is fun(%s); the code (%s:%d) takes (%s)"):format(f.where, class,
                  f.name, table.concat(args, ", "), site(fn), select(2, site(fn)), table.concat(code, ", "))
              end
            end
          end
        end
      end
    end
    assert.same({}, bad)
    -- every operation's safe and async forms, and the hand-written ones
    assert.is_true(checked > 2 * 635, checked .. " fun fields checked")
  end)

  it("declares every operation in meta.lua once, with the built methods' parameters, deprecated where the files say",
    function()
    local path = "lua/sendpulse/api/meta.lua"
    local lines = lines_of(path)
    local built = params_of(service_objects.method("email", "get_mailing_lists"))
    table.remove(built, 1)
    local seen, bad = {}, {}
    for n, line in ipairs(lines) do
      local service, name, params = line:match("^function ([%w_]+):([%w_]+)%(([^)]*)%) end$")
      if service then
        local key = service .. ":" .. name
        if seen[key] then bad[#bad + 1] = key .. " twice" end
        seen[key] = true
        local block = block_above(path, n)
        local named = table.concat(annotated_params(block), ", ")
        if named ~= params or params ~= table.concat(built, ", ") then
          bad[#bad + 1] = ("%s: ---@param %s, function (%s), methods take (%s)"):format(key, named, params,
            table.concat(built, ", "))
        end
        local deprecated = false
        for _, l in ipairs(block) do if l == "---@deprecated" then deprecated = true end end
        local record = catalog.operation(service, name)
        if not record then bad[#bad + 1] = key .. ": no such operation"
        elseif deprecated ~= (record.deprecated == true) then
          bad[#bad + 1] = key .. (deprecated and ": marked deprecated, the record is not" or ": not marked deprecated")
        end
      end
    end
    assert.same({}, bad)
    local n, deprecated = 0, 0
    for _, service in ipairs(catalog.services()) do
      for _, name in ipairs(catalog.operations(service)) do
        n = n + 1
        assert.truthy(seen[service .. ":" .. name], service .. ":" .. name .. " is not in meta.lua")
        if catalog.operation(service, name).deprecated then deprecated = deprecated + 1 end
      end
    end
    assert.is_true(n >= 635)
    assert.equal(1, deprecated)   -- crm:create_contact_deprecated, the files' one
  end)

  it("types answers from the files' schemas", function()
    local text = read("lua/sendpulse/api/meta.lua")
    assert.truthy(text:find("\n---@alias sendpulse.answer.email.get_mailing_lists sendpulse.email.MailingList[]\n",
      1, true))
    -- the helper returns the list object, not SendPulse's one-element array
    assert.truthy(text:find("\n---@alias sendpulse.answer.email.get_mailing_list_by_id sendpulse.email.MailingList\n",
      1, true))
    assert.truthy(text:find("\n---@class sendpulse.email.MailingList\n---@field active_email_qty? integer\n",
      1, true))
  end)

  it("gives editor settings that are what the guide says", function()
    local settings = assert(json.decode(docs.section_blocks("docs/guide.md", "Completion in editors", "json")[1]))
    local library = settings["workspace.library"]
    assert.same("Lua 5.4", settings["runtime.version"])
    assert.same({ "/usr/local/share/lua/5.4" }, library)
    -- where make install PREFIX=/usr/local puts the Lua files
    local p = assert(io.popen("make -s config PREFIX=/usr/local LUA_IMPL=lua5.4 2>/dev/null"))
    local config = p:read("a")
    p:close()
    assert.equal(library[1], config:match("\nLUADIR%s*=%s*(%S+)"))
    -- the Neovim snippet, against a stand-in lspconfig
    local seen
    local snippet = docs.section_blocks("docs/guide.md", "Completion in editors", "text")[1]
    local env = { require = function(name)
      assert.equal("lspconfig", name)
      return { lua_ls = { setup = function(t) seen = t end } }
    end }
    local chunk = assert(load(snippet, "=neovim snippet", "t", env))
    chunk()
    assert.same(library, seen.settings.Lua.workspace.library)
    assert.same("Lua 5.4", seen.settings.Lua.runtime.version)
  end)
end)
