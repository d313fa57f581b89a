-- The library's modules and what each requires, read from the sources (not
-- by loading them: a require made only inside a function, on first use,
-- counts as much as one at the top). spec/layers_spec.lua checks the graph
-- for cycles and against the layers docs/maintaining.md draws.
--
-- A small Lua tokenizer: comments and strings are skipped as Lua reads
-- them (a require inside a comment is no require), and `function` ... `end`
-- nesting tells a lazy require (inside a function) from a top-level one.

local sys = require "support.sys"

local _M = {}

local sub, find, match = string.sub, string.find, string.match

-- The tokens of Lua source `src`: { kind = "name" | "string" | "op" |
-- "number", text = ..., line = ... }. Comments are dropped.
local function tokens(src)
  local out, i, n, line = {}, 1, #src, 1
  local function push(kind, text, at) out[#out + 1] = { kind = kind, text = text, line = at } end
  local function count_lines(from, to)
    local _, k = sub(src, from, to):gsub("\n", "")
    line = line + k
  end
  -- A long bracket at i ("[[", "[==["): its end, or nil if none opens here.
  local function long_bracket(at)
    local eq = match(src, "^%[(=*)%[", at)
    if not eq then return nil end
    local close = "]" .. eq .. "]"
    local s, e = find(src, close, at + #eq + 2, true)
    if not s then error("unfinished long bracket at line " .. line) end
    return e, sub(src, at + #eq + 2, s - 1)
  end
  while i <= n do
    local c = sub(src, i, i)
    if c == "\n" then
      line = line + 1
      i = i + 1
    elseif find(c, "%s") then
      i = i + 1
    elseif sub(src, i, i + 1) == "--" then
      local e = sub(src, i + 2, i + 2) == "[" and long_bracket(i + 2)
      if e then
        count_lines(i, e)
        i = e + 1
      else
        local nl = find(src, "\n", i, true) or n + 1
        i = nl
      end
    elseif c == '"' or c == "'" then
      local j, buf = i + 1, {}
      while true do
        local d = sub(src, j, j)
        if d == "" or d == "\n" then error("unfinished string at line " .. line) end
        if d == "\\" then
          local nxt = sub(src, j + 1, j + 1)
          if nxt == "\n" then line = line + 1 end
          buf[#buf + 1] = d .. nxt
          j = j + 2
        elseif d == c then
          break
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      push("string", table.concat(buf), line)
      i = j + 1
    elseif c == "[" and long_bracket(i) then
      local at = line
      local e, text = long_bracket(i)
      count_lines(i, e)
      push("string", text, at)
      i = e + 1
    elseif find(c, "[%a_]") then
      local word = match(src, "^[%w_]+", i)
      push("name", word, line)
      i = i + #word
    elseif find(c, "%d") or (c == "." and find(sub(src, i + 1, i + 1), "%d")) then
      local num = match(src, "^0[xX][%x%.]+[pP]?[%+%-]?%d*", i) or match(src, "^[%d%.]+[eE]?[%+%-]?%d*", i)
      push("number", num, line)
      i = i + #num
    else
      local op = match(src, "^%.%.%.", i) or match(src, "^[=~<>]=", i) or match(src, "^%.%.", i)
        or match(src, "^::", i) or match(src, "^//", i) or c
      push("op", op, line)
      i = i + #op
    end
  end
  return out
end
_M.tokens = tokens

-- Keywords that open a block closed by `end` (`repeat` is closed by `until`).
local OPENS = { ["function"] = true, ["do"] = true, ["if"] = true }

--- The requires of Lua source `src`: a list of { name = module (or, for
-- require("prefix" .. x), the prefix followed by "*"; false for a
-- require(variable)), line =, lazy = (inside a function), dynamic = (the
-- name is a literal prefix), variable = (the name is a value) }; and the
-- string literals that look like module names ("sendpulse...").
function _M.scan(src)
  local toks = tokens(src)
  local found, literals = {}, {}
  for k = 1, #toks do
    local t = toks[k]
    if t.kind == "string" and match(t.text, "^sendpulse[%w_.]*$") then literals[#literals + 1] = t.text end
  end
  -- The stack of open blocks: "function" or "block".
  local stack, functions = {}, 0
  for k = 1, #toks do
    local t = toks[k]
    if t.kind == "name" then
      local w = t.text
      if OPENS[w] then
        -- `while ... do` and `for ... do` open at their `do`; an `if`'s
        -- `then` and an `elseif` open nothing.
        stack[#stack + 1] = w == "function" and "function" or "block"
        if w == "function" then functions = functions + 1 end
      elseif w == "repeat" then
        stack[#stack + 1] = "repeat"
      elseif w == "end" or w == "until" then
        local top = table.remove(stack)
        if top == "function" then functions = functions - 1 end
      elseif w == "require" then
        local prev = toks[k - 1]
        -- not a field (x.require) and not its own definition (local require = require)
        local field = prev and prev.kind == "op" and (prev.text == "." or prev.text == ":")
        local nxt, after = toks[k + 1], toks[k + 2]
        local name_tok, variable
        if nxt and nxt.kind == "string" then
          name_tok = nxt
        elseif nxt and nxt.kind == "op" and (nxt.text == "(" or nxt.text == ",") then
          if after and after.kind == "string" then
            name_tok = after
          elseif nxt.text == "(" then
            variable = true
          end
        end
        if not field and name_tok then
          local follow = toks[k + (name_tok == nxt and 2 or 3)]
          local dynamic = follow and follow.kind == "op" and follow.text == ".."
          found[#found + 1] = { name = dynamic and (name_tok.text .. "*") or name_tok.text,
                                line = t.line, lazy = functions > 0, dynamic = dynamic or false }
        elseif not field and variable then
          -- require(name): the name is a value (a list of modules in the
          -- file, a record's field); graph() resolves it.
          found[#found + 1] = { name = false, line = t.line, lazy = functions > 0, variable = true }
        end
      end
    end
  end
  if #stack ~= 0 then error("unbalanced blocks: " .. #stack .. " left open") end
  return found, literals
end

--- The module name of a file under lua/: lua/sendpulse/a/init.lua ->
-- sendpulse.a, lua/sendpulse/a/b.lua -> sendpulse.a.b.
function _M.module_name(path)
  local rel = assert(match(path, "^lua/(.*)%.lua$"), path)
  rel = rel:gsub("/init$", "")
  return (rel:gsub("/", "."))
end

--- Every Lua module of the library (lua/sendpulse.lua and lua/sendpulse/**):
-- { [module] = { path =, requires = scan's list } }, and the names sorted.
-- A require(variable) stands for the module names the file itself spells
-- out (a list it walks); where it spells none, `declared[module]` must say
-- what it loads (a list of names, "prefix.*" allowed), else this fails.
function _M.graph(root, declared)
  root = root or "."
  local p = io.popen("cd '" .. root .. "' && find lua -name '*.lua' | LC_ALL=C sort")
  local modules, names = {}, {}
  for path in p:lines() do
    local name = _M.module_name(path)
    local ok, found, literals = pcall(_M.scan, sys.read_file(root .. "/" .. path))
    if not ok then error(path .. ": " .. tostring(found), 0) end
    local requires = {}
    for _, req in ipairs(found) do
      if not req.variable then
        requires[#requires + 1] = req
      else
        local loads = declared and declared[name]
        if not loads then
          if #literals == 0 then
            error(("%s:%d: require of a name held in a variable, and the file names no module:"
              .. " declare what it loads"):format(path, req.line), 0)
          end
          loads = literals
        end
        for _, target in ipairs(loads) do
          requires[#requires + 1] = { name = target, line = req.line, lazy = req.lazy,
                                      dynamic = target:sub(-1) == "*", variable = true }
        end
      end
    end
    modules[name] = { path = path, requires = requires }
    names[#names + 1] = name
  end
  p:close()
  table.sort(names)
  return modules, names
end

--- The modules a require names: itself, or for a dynamic one ("x.*")
-- every module whose name starts with the prefix.
function _M.targets(modules, name)
  if sub(name, -1) ~= "*" then return { name } end
  local prefix, out = sub(name, 1, -2), {}
  for m in pairs(modules) do
    if sub(m, 1, #prefix) == prefix then out[#out + 1] = m end
  end
  table.sort(out)
  return out
end

--- The cycles of the graph among the library's own modules (requires of
-- modules outside `modules`, such as the C core, lead nowhere), each a list
-- of module names from one back to itself; `skip(from, req)` true leaves an
-- edge out. One cycle per strongly connected group is enough to fail on.
function _M.cycles(modules, skip)
  local edges = {}
  for name, m in pairs(modules) do
    local out = {}
    for _, req in ipairs(m.requires) do
      if not (skip and skip(name, req)) then
        for _, target in ipairs(_M.targets(modules, req.name)) do
          if modules[target] and target ~= name then out[#out + 1] = target end
        end
      end
    end
    table.sort(out)
    edges[name] = out
  end
  local names = {}
  for name in pairs(modules) do names[#names + 1] = name end
  table.sort(names)
  -- Depth-first search; a grey node met again closes a cycle.
  local colour, path, cycles = {}, {}, {}
  local function visit(v)
    colour[v] = "grey"
    path[#path + 1] = v
    for _, w in ipairs(edges[v]) do
      if colour[w] == "grey" then
        local cycle, from = {}, nil
        for i = 1, #path do if path[i] == w then from = i end end
        for i = from, #path do cycle[#cycle + 1] = path[i] end
        cycle[#cycle + 1] = w
        cycles[#cycles + 1] = cycle
      elseif not colour[w] then
        visit(w)
      end
    end
    path[#path] = nil
    colour[v] = "black"
  end
  for _, v in ipairs(names) do
    if not colour[v] then visit(v) end
  end
  return cycles
end

return _M
