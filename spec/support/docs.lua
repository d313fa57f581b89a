-- The project's Markdown docs (README.md, docs/*.md) as things to run: their
-- fenced blocks, the shell lines of ```sh blocks with their markers, and Lua
-- blocks run as one chunk with the sandbox's settings. spec/docs_spec.lua,
-- spec/readme_spec.lua and the spec/docs_<name>_spec.lua files use it; the
-- conventions are in docs/maintaining.md ("Docs that run").

local sys = require "support.sys"

local _M = {}

--- README.md, then docs/*.md in name order.
function _M.files()
  local files = { "README.md" }
  local p = io.popen("ls docs/*.md 2>/dev/null")
  for f in p:lines() do files[#files + 1] = f end
  p:close()
  return files
end

--- Every fenced block of a Markdown file, in order:
-- { lang =, code =, line = (of the opening fence), section = (the "## "
-- heading it is under, without the hashes; nil before the first) }.
function _M.blocks(path)
  local text = sys.read_file(path)
  local blocks, section, open, n = {}, nil, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if open then
      if line:match("^```%s*$") then
        open.code = table.concat(open.lines, "\n")
        open.lines = nil
        blocks[#blocks + 1] = open
        open = nil
      else
        open.lines[#open.lines + 1] = line
      end
    else
      local heading = line:match("^## (.*)$")
      if heading then section = heading end
      local lang = line:match("^```(%S*)")
      if lang then open = { lang = lang, line = n, section = section, lines = {} } end
    end
  end
  if open then error(path .. ":" .. open.line .. ": a code block is never closed", 2) end
  return blocks
end

--- The code of every block of `lang` in a file, in order.
function _M.file_blocks(path, lang)
  local codes = {}
  for _, b in ipairs(_M.blocks(path)) do
    if b.lang == lang then codes[#codes + 1] = b.code end
  end
  return codes
end

--- The code of the blocks of `lang` in the "## " section whose heading starts
-- with `title`. Raises when there is no such section.
function _M.section_blocks(path, title, lang)
  local codes, found = {}, false
  for _, b in ipairs(_M.blocks(path)) do
    if b.section and b.section:sub(1, #title) == title then
      found = true
      if b.lang == lang then codes[#codes + 1] = b.code end
    end
  end
  if not found then
    -- a section without blocks still counts as found
    if not sys.read_file(path):find("\n## " .. title, 1, true) then
      error(("%s has no '## %s' section"):format(path, title), 2)
    end
  end
  return codes
end

---------------------------------------------------------------------------
-- shell lines

-- The markers a ```sh line can carry in its trailing comment.
_M.MARKERS = {
  -- needs a SendPulse account: run against the sandbox instead, with
  -- SENDPULSE_BASE_URL set and the `...` of SENDPULSE_CLIENT_ID=... and
  -- SENDPULSE_CLIENT_SECRET=... replaced by the sandbox's credentials
  ["real account"] = true,
  -- runs until stopped, runs the suite itself, or takes minutes: not run;
  -- each `make TARGET` must be a target make knows, each `sh FILE` and
  -- `luaX FILE` an existing file
  ["long-running"] = true,
}

-- Splits a shell line into its command and its trailing comment (a `#`
-- after a blank, outside quotes).
function _M.split_comment(line)
  local quote
  for i = 1, #line do
    local c = line:sub(i, i)
    if quote then
      if c == quote then quote = nil end
    elseif c == "'" or c == '"' then
      quote = c
    elseif c == "#" and (i == 1 or line:sub(i - 1, i - 1):match("%s")) then
      return (line:sub(1, i - 1):gsub("%s+$", "")), line:sub(i + 1)
    end
  end
  return line, nil
end

--- The commands of a ```sh block: { text =, marker =, offset = (line in
-- the block) }, continuation lines joined, blank and comment-only lines
-- left out. A `[...]` in a trailing comment must be a known marker.
function _M.shell_lines(code)
  local out, pending, start = {}, nil, nil
  local n = 0
  for line in (code .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if pending then
      line = pending .. "\n" .. line
    else
      start = n
    end
    if line:match("\\$") then
      pending = line
    else
      pending = nil
      local command, comment = _M.split_comment(line)
      if command:match("%S") then
        local marker
        for tag in (comment or ""):gmatch("%[([^%]]*)%]") do
          if not _M.MARKERS[tag] then
            error(("unknown marker [%s] (known: [real account], [long-running])"):format(tag), 2)
          end
          marker = tag
        end
        out[#out + 1] = { text = command, marker = marker, offset = start }
      end
    end
  end
  return out
end

--- The simple commands of a shell line, each a list of words (quotes
-- removed), split at unquoted &&, ||, ;, | and &, with the leading VAR=value
-- words left out. Enough for the docs' lines, not a shell.
function _M.commands(text)
  local out, words, word, quote = {}, {}, nil, nil
  local function end_word()
    if word then
      if #words > 0 or not word:match("^[%w_]+=") then words[#words + 1] = word end
      word = nil
    end
  end
  local function end_command()
    end_word()
    if #words > 0 then out[#out + 1] = words end
    words = {}
  end
  local i = 1
  while i <= #text do
    local c = text:sub(i, i)
    if quote then
      if c == quote then quote = nil else word = word .. c end
    elseif c == "'" or c == '"' then
      quote, word = c, word or ""
    elseif c == "\\" and text:sub(i + 1, i + 1) == "\n" then
      i = i + 1
      end_word()
    elseif c:match("%s") then
      end_word()
    elseif c == ";" or c == "|" or c == "&" then
      end_command()
    else
      word = (word or "") .. c
    end
    i = i + 1
  end
  end_command()
  return out
end

---------------------------------------------------------------------------
-- Lua blocks

--- Runs Lua `code` (one chunk) with these globals besides _G's: SANDBOX_URL
-- = `url`, os.getenv answering SENDPULSE_BASE_URL, SENDPULSE_CLIENT_ID and
-- SENDPULSE_CLIENT_SECRET with the sandbox's, and print collecting lines
-- (its arguments joined by `sep`, default " "). Returns the printed lines;
-- raises with the error.
function _M.run_lua(code, name, url, sep)
  local vars = { SENDPULSE_CLIENT_ID = "sandbox-id", SENDPULSE_CLIENT_SECRET = "sandbox-secret",
                 SENDPULSE_BASE_URL = url }
  local fake_os = setmetatable({ getenv = function(k) return vars[k] end }, { __index = os })
  local printed = {}
  local env = setmetatable({
    SANDBOX_URL = url,
    os = fake_os,
    print = function(...)
      local parts = { ... }
      for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
      printed[#printed + 1] = table.concat(parts, sep or " ")
    end,
  }, { __index = _G })
  local fn, err
  if setfenv then
    fn, err = loadstring(code, "=" .. name)
    if fn then setfenv(fn, env) end
  else
    fn, err = load(code, "=" .. name, "t", env)
  end
  if not fn then error(err, 2) end
  local ok, run_err = pcall(fn)
  if not ok then error(tostring(run_err), 2) end
  return printed
end

--- The spec that runs docs/<name>.md itself, if there is one:
-- spec/docs_<name>_spec.lua (it must read the file).
function _M.own_spec(path)
  local name = path:match("^docs/([%w_-]+)%.md$")
  if not name then return nil end
  local spec = "spec/docs_" .. name:gsub("-", "_") .. "_spec.lua"
  if sys.exists(spec) then return spec end
  return nil
end

return _M
