-- Docs that run as written (docs/maintaining.md, "Docs that run"):
--
--   * every line of every ```sh block of README.md and docs/*.md, from the
--     repository's root, in a clean environment (a user's shell: PATH, a
--     scratch HOME, nothing of the suite's), each block in one shell so that
--     `eval "$(make env)"` carries to the next line; a line marked
--     [real account] runs against the sandbox instead of SendPulse, a line
--     marked [long-running] is checked by proxy (its make targets exist, the
--     files it runs exist); the checkout must be left as it was;
--   * every ```lua block of a docs/*.md file, in order as one chunk, against
--     a fresh sandbox (SANDBOX_URL, and os.getenv's SENDPULSE_BASE_URL,
--     SENDPULSE_CLIENT_ID, SENDPULSE_CLIENT_SECRET are the sandbox's);
--   * a docs/<name>.md with its own spec/docs_<name>_spec.lua is run there
--     instead (it must read the file); a file with ```nginx blocks needs one.
--
-- README.md's one Lua block, its Synopsis, is run by readme_spec.lua (a
-- test below holds the README to that).
--
-- The shell lines are tagged #once: they drive other processes (make,
-- luarocks, the examples), which the valgrind and LuaJIT passes would only
-- repeat.

local docs = require "support.docs"
local sys = require "support.sys"
local sandbox_process = require "support.sandbox_process"

local q = sys.shell_quote
local SHELL = { sh = true, shell = true, bash = true }

-- What stands in for a real account's credentials on a [real account] line.
local STAND_INS = { SENDPULSE_CLIENT_ID = "sandbox-id", SENDPULSE_CLIENT_SECRET = "sandbox-secret" }

local function git_status()
  local ok, out = sys.run("git status --porcelain --untracked-files=all 2>/dev/null")
  return ok and out or ""
end

-- The proxy checks of a [long-running] line: make targets exist (make -n
-- succeeds), scripts and Lua files it would run exist, Lua given with -e
-- compiles. Returns how many.
local function check_by_proxy(text)
  local checked = 0
  for _, words in ipairs(docs.commands(text)) do
    local program = words[1]
    if program == "make" then
      local targets = {}
      for i = 2, #words do
        if not words[i]:match("^%-") and not words[i]:match("=") then targets[#targets + 1] = words[i] end
      end
      for _, t in ipairs(targets) do
        local ok, out = sys.run("make -n --no-print-directory " .. q(t) .. " >/dev/null")
        assert(ok, "make has no target " .. t .. ": " .. out)
        checked = checked + 1
      end
    elseif program:match("^lua") and words[2] == "-e" then
      local ok, out = sys.run(program .. " -e " .. q("assert((loadstring or load)(" .. ("%q"):format(words[3]) .. "))"))
      assert(ok, "the Lua of this line does not compile: " .. out)
      checked = checked + 1
    elseif program == "sh" or program:match("^lua") then
      local file = words[2]
      assert(file and sys.exists(file), "no file " .. tostring(file) .. " for: " .. text)
      checked = checked + 1
    end
  end
  return checked
end

-- A [real account] line, made to run against the sandbox at `url`.
local function stand_in(text, url)
  local line = text:gsub("([%w_]+)=%.%.%.", function(name)
    local value = STAND_INS[name]
    assert(value, "no stand-in for " .. name .. "=... (known: SENDPULSE_CLIENT_ID, SENDPULSE_CLIENT_SECRET)")
    return name .. "=" .. value
  end)
  assert(not line:find("...", 1, true), "a placeholder is left: " .. line)
  return "SENDPULSE_BASE_URL=" .. q(url) .. " " .. line
end

-- The script that runs one block's lines in one shell, stopping at the first
-- that fails, and stopping what they left in the background.
local function script(lines, url)
  local out = { "cd " .. q(io.popen("pwd"):read("*l")) }
  for i, l in ipairs(lines) do
    if l.marker ~= "long-running" then
      local text = l.marker == "real account" and stand_in(l.text, url) or l.text
      out[#out + 1] = ("echo '@@ line %d'"):format(i)
      out[#out + 1] = text
      out[#out + 1] = ('rc=$?; if [ $rc -ne 0 ]; then echo "@@ line %d failed: $rc"; exit $rc; fi'):format(i)
    end
  end
  out[#out + 1] = "kill $(jobs -p) 2>/dev/null; exit 0"
  return table.concat(out, "\n") .. "\n"
end

describe("docs: every shell line of README.md and docs/*.md runs as written #once", function()
  local sb, home

  lazy_setup(function()
    sb = sandbox_process.start {}
    local p = io.popen("mktemp -d")
    home = p:read("*l")
    p:close()
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
    if home then os.execute("rm -rf " .. q(home)) end
  end)

  for _, file in ipairs(docs.files()) do
    local own = docs.own_spec(file)
    if own then
      it(file .. " is run by " .. own, function()
        assert.matches(file, sys.read_file(own), 1, true)
      end)
    else
      for _, block in ipairs(docs.blocks(file)) do
        if SHELL[block.lang] then
          local first = block.code:match("[^\n]*")
          it(("%s:%d: %s"):format(file, block.line, first), function()
            local lines = docs.shell_lines(block.code)
            assert.is_true(#lines > 0, "an empty block")
            for _, l in ipairs(lines) do
              if l.marker == "long-running" then
                assert.is_true(check_by_proxy(l.text) > 0, "nothing to check by proxy in: " .. l.text)
              end
            end
            local before = git_status()
            local path = home .. "/block.sh"
            sys.write_file(path, script(lines, sb.url))
            local ok, out = sys.run(("timeout 900 env -i PATH=%s HOME=%s LANG=C.UTF-8 sh %s"):format(
              q(os.getenv("PATH")), q(home), q(path)))
            assert(ok, ("%s:%d: %s"):format(file, block.line, out))
            assert.same(before, git_status(), "the lines left the checkout changed")
          end)
        end
      end
    end
  end
end)

describe("docs: the Lua blocks of docs/*.md run against the sandbox", function()
  local sb

  lazy_setup(function() sb = sandbox_process.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  for _, file in ipairs(docs.files()) do
    if file ~= "README.md" and not docs.own_spec(file) then
      local lua, nginx = {}, 0
      for _, block in ipairs(docs.blocks(file)) do
        if block.lang == "lua" then lua[#lua + 1] = block.code end
        if block.lang == "nginx" then nginx = nginx + 1 end
      end
      if nginx > 0 then
        it(file .. " has its own spec for its nginx blocks", function()
          error(file .. " has ```nginx blocks, which only a spec of its own can run: write "
            .. "spec/docs_" .. file:match("^docs/(.*)%.md$"):gsub("-", "_") .. "_spec.lua")
        end)
      end
      if #lua > 0 then
        it(file .. ": its " .. #lua .. " Lua blocks, in order", function()
          sb:reset()
          local ok, err = pcall(docs.run_lua, table.concat(lua, "\n"), file, sb.url)
          assert(ok, tostring(err) .. "\n" .. sb:log():sub(-2000))
        end)
      end
    end
  end
end)

-- GitHub's anchor of a heading: lower case, punctuation dropped, blanks made
-- hyphens.
local function anchor(heading)
  return (heading:lower():gsub("[^%w%- ]", ""):gsub(" ", "-"))
end

describe("docs: every relative link of README.md and docs/*.md leads somewhere #once", function()
  for _, file in ipairs(docs.files()) do
    it(file, function()
      local dir = file:match("^(.*)/") or "."
      local broken = {}
      local text = sys.read_file(file):gsub("\n```.-\n```", "")
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        if not target:match("^%a+:") then
          local path, hash = target:match("^([^#]*)#?(.*)$")
          local resolved = path == "" and file or (dir .. "/" .. path)
          if not sys.exists(resolved) then
            broken[#broken + 1] = target .. " (no file " .. resolved .. ")"
          elseif hash ~= "" then
            local found = false
            for heading in ("\n" .. sys.read_file(resolved)):gmatch("\n#+ ([^\n]+)") do
              if anchor(heading) == hash then found = true end
            end
            if not found then broken[#broken + 1] = target .. " (no heading #" .. hash .. " in " .. resolved .. ")" end
          end
        end
      end
      assert.same({}, broken)
    end)
  end
end)

describe("docs: the conventions of the runner #once", function()
  it("splits shell lines, comments and markers", function()
    local lines = docs.shell_lines(table.concat({
      "# a comment line",
      "make test   # [long-running] runs the suite",
      "echo 'a # not a comment' \\",
      "  && true",
      "",
      "SENDPULSE_CLIENT_ID=... lua5.4 x.lua   # [real account]",
    }, "\n"))
    assert.same({
      { text = "make test", marker = "long-running", offset = 2 },
      { text = "echo 'a # not a comment' \\\n  && true", offset = 3 },
      { text = "SENDPULSE_CLIENT_ID=... lua5.4 x.lua", marker = "real account", offset = 6 },
    }, lines)
    assert.has_error(function() docs.shell_lines("make  # [sometimes]") end,
      "unknown marker [sometimes] (known: [real account], [long-running])")
  end)

  it("stands the sandbox in for a real account, and nothing else", function()
    assert.equal("SENDPULSE_BASE_URL='http://x' SENDPULSE_CLIENT_ID=sandbox-id SENDPULSE_CLIENT_SECRET=sandbox-secret"
      .. " lua5.4 q.lua", stand_in("SENDPULSE_CLIENT_ID=... SENDPULSE_CLIENT_SECRET=... lua5.4 q.lua", "http://x"))
    assert.has_error(function() stand_in("TOKEN=... curl x", "http://x") end)
  end)

  it("makes GitHub's anchors", function()
    assert.equal("waiting-out-711-791-and-1004", anchor("Waiting out 711, 791 and 1004"))
    assert.equal("sendpulses-contract-and-the-generated-files", anchor("SendPulse's contract and the generated files"))
    assert.equal("pagination-each-and-all", anchor("Pagination: `each` and `all`"))
  end)

  it("reads the commands of a line", function()
    assert.same({ { "make", "check" }, { "sh", ".ci/run" }, { "lua5.4", "-e", "print('a b'); x()" }, { "sleep", "1" } },
      docs.commands([[make check && sh .ci/run; X=1 lua5.4 -e "print('a b'); x()" & sleep 1]]))
  end)

  it("checks long-running lines by proxy", function()
    assert.equal(2, check_by_proxy("make check && sh .ci/run"))
    assert.equal(1, check_by_proxy("lua5.4 -e 'local s = require(\"x\").new {}; s:run()' &"))
    assert.has_error(function() check_by_proxy("lua5.4 -e 'local = 1'") end)
    assert.has_error(function() check_by_proxy("make no-such-target") end)
    assert.has_error(function() check_by_proxy("sh no/such/script.sh") end)
  end)

  it("finds the blocks of a file with their sections", function()
    local blocks = docs.blocks("docs/guide.md")
    local langs, sections = {}, {}
    for _, b in ipairs(blocks) do
      langs[b.lang] = (langs[b.lang] or 0) + 1
      sections[#sections + 1] = b.section
    end
    assert.same({ lua = 5, sh = 1, json = 1, text = 1 }, langs)
    assert.same({ "Every operation: `client.<service>:<operation>{...}`", "Errors", "Errors",
      "The safe form: `res, err`", "Pointing it at the real API", "Completion in editors",
      "Completion in editors", "Completion in editors" }, sections)
    assert.same({ blocks[2].code, blocks[3].code }, docs.section_blocks("docs/guide.md", "Errors", "lua"))
    assert.same({ blocks[1].code, blocks[2].code, blocks[3].code, blocks[4].code, blocks[8].code },
      docs.file_blocks("docs/guide.md", "lua"))
  end)

  it("leaves no Lua or nginx block of the README unrun: they are all in its Synopsis", function()
    local lua, nginx = 0, 0
    for _, b in ipairs(docs.blocks("README.md")) do
      if b.lang == "lua" then
        lua = lua + 1
        assert.equal("Synopsis", b.section, "README.md:" .. b.line .. ": a ```lua block outside the Synopsis, "
          .. "which spec/readme_spec.lua does not run")
      end
      if b.lang == "nginx" then nginx = nginx + 1 end
    end
    assert.equal(1, lua)
    assert.equal(0, nginx, "README.md has ```nginx blocks, which no spec runs")
  end)
end)
