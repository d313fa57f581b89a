-- The house without loops (issue 18, item 3): no require cycle among the
-- library's modules, and every require goes the way docs/maintaining.md's
-- "Layers" table allows. The table is read from the doc, so the drawing and
-- the rule cannot drift apart. Requires are read from the sources by
-- spec/support/requires.lua: one made inside a function, on first use,
-- counts as much as one at the top, unless its line says it closes a loop
-- on purpose (DELIBERATE below, with the reason).
local requires = require "support.requires"
local sys = require "support.sys"

-- What a require(variable) loads where the file spells no module name: the
-- services' record modules, named in sendpulse.api's list; the sandbox's
-- route modules, from its ROUTES list or the caller's.
local DECLARED = {
  ["sendpulse.operations.catalog"] = { "sendpulse.api.*" },
  ["sendpulse.sandbox.routes.examples"] = { "sendpulse.api.*" },
  ["sendpulse.sandbox"] = { "sendpulse.sandbox.routes.*" },
}

-- A lazy require whose line carries this comment is left out of the cycle
-- check: a loop someone meant, and said why, on that line.
local DELIBERATE = "%-%-.*require loop on purpose:"

-- Is `req`, on source line `text`, a require left out of the cycle check?
-- Only a lazy one whose own line says it closes a loop on purpose.
local function is_deliberate(req, text)
  return req.lazy and (text or ""):find(DELIBERATE) ~= nil
end

-- The "Layers" table of docs/maintaining.md: { layers = { name = { modules
-- = { patterns }, allowed = { layer = true } } }, order = { names } }.
local function read_layers(text)
  local section = text:match("\n## Layers\n(.-)\n## ")
  assert(section, "docs/maintaining.md has no '## Layers' section")
  local layers, order = {}, {}
  for row in section:gmatch("\n(|[^\n]*)") do
    local cells = {}
    for cell in row:gmatch("|([^|]*)") do cells[#cells + 1] = cell:match("^%s*(.-)%s*$") end
    local name = cells[1] and cells[1]:match("^`([%w_]+)`$")
    if name and #cells >= 3 then
      local modules, allowed = {}, {}
      for pattern in cells[2]:gmatch("`([%w_.*]+)`") do modules[#modules + 1] = pattern end
      for other in cells[3]:gmatch("`([%w_]+)`") do allowed[other] = true end
      assert(#modules > 0, "layer " .. name .. " names no modules")
      assert(not layers[name], "layer " .. name .. " twice")
      layers[name] = { modules = modules, allowed = allowed }
      order[#order + 1] = name
    end
  end
  assert(#order > 0, "the Layers section has no table")
  return { layers = layers, order = order }
end

-- Does module `m` match `pattern` ("sendpulse.x" exactly; "sendpulse.x.*":
-- sendpulse.x and everything below it)?
local function matches(pattern, m)
  if pattern:sub(-2) == ".*" then
    local base = pattern:sub(1, -3)
    return m == base or m:sub(1, #base + 1) == base .. "."
  end
  return m == pattern
end

-- The layer of module m, or nil.
local function layer_of(plan, m)
  local found
  for _, name in ipairs(plan.order) do
    for _, pattern in ipairs(plan.layers[name].modules) do
      if matches(pattern, m) then
        assert(not found or found == name, m .. " is in two layers: " .. tostring(found) .. " and " .. name)
        found = name
      end
    end
  end
  return found
end

-- The layer a require names: its target's, or for "prefix.*" the layer of
-- every module it may load (they must all agree).
local function target_layer(plan, modules, name)
  local targets = requires.targets(modules, name)
  if #targets == 0 then targets = { name } end   -- not a Lua module: the C core's
  local layer
  for _, t in ipairs(targets) do
    local l = layer_of(plan, t)
    if layer and l ~= layer then return nil, t end
    layer = l
  end
  return layer, targets[1]
end

-- The sources of modules given as text, for the checker's own tests.
local function graph_of(sources)
  local modules = {}
  for name, src in pairs(sources) do modules[name] = { path = name, requires = (requires.scan(src)) } end
  return modules
end

describe("the require graph", function()
  local modules, names, plan, lines

  setup(function()
    modules, names = requires.graph(".", DECLARED)
    plan = read_layers(sys.read_file("docs/maintaining.md"))
    lines = {}
    for _, name in ipairs(names) do
      local text = sys.read_file(modules[name].path)
      local list = {}
      for l in (text .. "\n"):gmatch("([^\n]*)\n") do list[#list + 1] = l end
      lines[name] = list
    end
  end)

  local function deliberate(from, req)
    return is_deliberate(req, lines[from] and lines[from][req.line])
  end

  it("has no cycle among the library's modules, lazy requires included", function()
    local cycles = requires.cycles(modules, deliberate)
    local text = {}
    for _, c in ipairs(cycles) do text[#text + 1] = table.concat(c, " -> ") end
    assert.are.same({}, text)
  end)

  it("puts every module in one layer of docs/maintaining.md's table", function()
    local homeless = {}
    for _, name in ipairs(names) do
      if not layer_of(plan, name) then homeless[#homeless + 1] = name end
    end
    assert.are.same({}, homeless)
  end)

  -- (A module in no layer is the test above's to report.)
  it("has every require go to its own layer or one its row allows", function()
    local wrong = {}
    for _, name in ipairs(names) do
      local from = layer_of(plan, name)
      for _, req in ipairs(modules[name].requires) do
        if req.name:find("^sendpulse") then
          local to, which = target_layer(plan, modules, req.name)
          if not to then
            wrong[#wrong + 1] = ("%s:%d requires %s, which is in no layer"):format(modules[name].path, req.line,
              which)
          elseif from and to ~= from and not plan.layers[from].allowed[to] then
            wrong[#wrong + 1] = ("%s:%d (%s) requires %s (%s)%s"):format(modules[name].path, req.line, from,
              req.name, to, req.lazy and ", inside a function" or "")
          end
        end
      end
    end
    assert.are.same({}, wrong)
  end)

  it("draws layers that themselves form no loop, and names only layers that exist", function()
    local layer_modules = {}
    for _, l in ipairs(plan.order) do
      local out = {}
      for other in pairs(plan.layers[l].allowed) do
        assert.is_truthy(plan.layers[other], ("layer %s may require '%s', which is no layer"):format(l, other))
        out[#out + 1] = { name = other, line = 0, lazy = false }
      end
      layer_modules[l] = { requires = out }
    end
    assert.are.same({}, requires.cycles(layer_modules))
  end)

  it("keeps the documented layers in use: each allowed step is taken by some require", function()
    -- A row that allows more than the code does would hide the next wrong
    -- require; drop the name from the row instead.
    local used = {}
    for _, name in ipairs(names) do
      local from = layer_of(plan, name)
      for _, req in ipairs(modules[name].requires) do
        local to = req.name:find("^sendpulse") and target_layer(plan, modules, req.name)
        if from and to and to ~= from then used[from .. " -> " .. to] = true end
      end
    end
    local unused = {}
    for _, l in ipairs(plan.order) do
      for other in pairs(plan.layers[l].allowed) do
        if not used[l .. " -> " .. other] then unused[#unused + 1] = l .. " -> " .. other end
      end
    end
    table.sort(unused)
    assert.are.same({}, unused)
  end)
end)

describe("the require reader", function()
  it("finds requires at the top and inside functions, and not in comments or strings", function()
    local found = requires.scan([==[
local a = require "m.a"
local b = require("m.b")
-- local c = require "m.c"
--[[ require "m.d" ]]
local s = 'require "m.e"'
local t = [[ require("m.f") ]]
local ok, h = pcall(require, "m.h")
local function later() return require("m.g") end
local x = { require = 1 }; x.require("m.i")
]==])
    local got = {}
    for _, r in ipairs(found) do got[#got + 1] = r.name .. (r.lazy and " lazy" or "") end
    assert.are.same({ "m.a", "m.b", "m.h", "m.g lazy" }, got)
  end)

  it("tells a require in a function apart from one after it, through ifs, loops and repeats", function()
    local found = requires.scan([[
if x then for i = 1, 2 do while y do repeat z() until w end end end
local f = function() if a then return require "m.inner" end end
local g = require "m.outer"
]])
    assert.are.same({ true, false }, { found[1].lazy, found[2].lazy })
  end)

  it("finds a cycle of two modules, also when one side requires lazily", function()
    local g = graph_of {
      a = 'local b = require "b"',
      b = 'local function f() return require "a" end',
    }
    assert.are.same({ { "a", "b", "a" } }, requires.cycles(g))
  end)

  it("finds the loop main had: client -> ... -> operations.call_options -> client", function()
    local g = graph_of {
      client = 'local ops; local function get() ops = ops or require "operations" end',
      operations = 'require "helpers"',
      helpers = 'require "call_options"',
      call_options = 'local client = require "client"',
    }
    local cycles = requires.cycles(g)
    assert.equal(1, #cycles)
    assert.equal(5, #cycles[1])
  end)

  it("leaves out of the cycle check only a lazy require whose line says the loop is on purpose", function()
    local src = {
      a = 'local b = require "b"',
      b = 'local function f() return require "a" end   -- require loop on purpose: a registers b',
    }
    local g = graph_of(src)
    local function skip(from, req)
      return is_deliberate(req, src[from])
    end
    assert.are.same({}, requires.cycles(g, skip))
    -- at the top of the file the same words excuse nothing
    src.b = 'local a = require "a"   -- require loop on purpose: a registers b'
    assert.equal(1, #requires.cycles(graph_of(src), skip))
    -- nor does a lazy require without them
    src.b = 'local function f() return require "a" end'
    assert.equal(1, #requires.cycles(graph_of(src), skip))
  end)

  it("reads a require(prefix .. name) as a require of everything under the prefix", function()
    local found = requires.scan('local m = require("sendpulse.api." .. name)')
    assert.are.same({ name = "sendpulse.api.*", line = 1, lazy = false, dynamic = true }, found[1])
  end)
end)
