-- Issue 21 at the command line, as real processes against the sandbox and
-- the hostile server: [] printed as [], field paths that collide, exports
-- killed by signals (their temporary file), an export against a server
-- that ignores offset, and the options --raw-cells and --batch-bytes.
local sandbox = require "support.sandbox_process"
local hostile = require "support.hostile_server"
local sys = require "support.sys"
local json = require "sendpulse.json"
local core = require "sendpulse.core"
local socket = require "socket"

local LUA = os.getenv("LUA") or "lua5.4"
local q = sys.shell_quote

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("sendpulse command, issue 21 #cli", function()
  local sb, hs, home, env

  local function env_words(extra)
    local vars = {}
    for k, v in pairs(env) do vars[k] = v end
    for k, v in pairs(extra or {}) do vars[k] = v or nil end
    local words = { "PATH=" .. q(os.getenv("PATH")) }
    for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. q(v) end
    return table.concat(words, " ")
  end

  -- Runs `bin/sendpulse <args>` to the end; returns stdout, stderr, exit
  -- code. `timeout`: seconds before it is killed (exit 124), for a command
  -- that used to run for ever.
  local function run(args, extra, timeout)
    local out, err = tmp(), tmp()
    local p = io.popen("env -i " .. env_words(extra) .. (timeout and " timeout " .. timeout or "") .. " "
      .. LUA .. " bin/sendpulse " .. args
      .. " >" .. out .. " 2>" .. err .. "; echo $?")
    local rc = tonumber(p:read("*a"))
    p:close()
    local o, e = sys.read_file(out), sys.read_file(err)
    os.remove(out)
    os.remove(err)
    return o, e, rc
  end

  -- Starts `bin/sendpulse <args>` in the background, with the default
  -- action for every signal (a background job of sh ignores SIGINT
  -- otherwise). Returns its pid, and a function that waits for its end and
  -- returns the exit code (128 + N for signal N) and its stderr.
  local function start(args)
    local err = tmp()
    local p = io.popen("sh -c " .. q("env --default-signal -i " .. env_words() .. " " .. LUA .. " bin/sendpulse "
      .. args .. " >/dev/null 2>" .. err .. " & echo $!; wait $!; echo $?") .. " 2>/dev/null")   -- not "Killed"
    local pid = assert(tonumber(p:read("*l")))
    return pid, function()
      local rc = tonumber(p:read("*l"))
      p:close()
      local e = sys.read_file(err)
      os.remove(err)
      return rc, e
    end
  end

  local function new_list(name, contacts)
    local o = run("email create_mailing_list bookName=" .. q(name))
    local id = assert(json.decode(o)).id
    local emails = {}
    for i = 1, contacts or 0 do emails[i] = { email = ("c%03d@example.com"):format(i), variables = { n = i } } end
    for first = 1, #emails, 100 do
      local part = { table.unpack(emails, first, math.min(first + 99, #emails)) }
      local _, e, rc = run(("email add_emails_to_mailing_list id=%d --json %s"):format(id,
        q(json.encode { emails = part })))
      assert(rc == 0, e)
    end
    return id
  end

  lazy_setup(function()
    sb = sandbox.start { rate = 0 }
    hs = hostile.start(LUA)
    home = tmp()
    assert(os.execute("mkdir -p " .. home .. "/tokens"))
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    if hs then hs:stop() end
    os.execute("rm -rf " .. q(home))
  end)
  before_each(function()
    sb:reset()
    env = { HOME = home, SENDPULSE_BASE_URL = sb.url, SENDPULSE_CLIENT_ID = "sandbox-id",
            SENDPULSE_CLIENT_SECRET = "sandbox-secret", SENDPULSE_TOKEN_DIR = home .. "/tokens" }
  end)

  it("prints the API's [] as [], alone or inside an answer, compact or indented", function()
    local o, e, rc = run("email get_mailing_lists")
    assert.equal(0, rc, e)
    assert.equal("[]\n", o)
    local id = new_list("Empty")
    assert.equal("[]\n", (run("email get_mailing_list_variables id=" .. id)))
    assert.equal("[]\n", (run("--pretty email get_emails_from_mailing_list id=" .. id)))
    assert.equal("[]\n", (run("request GET /addressbooks/" .. id .. "/emails")))
    -- and what is sent: --json '{"a":[]}' goes out as [] too (the server
    -- here quotes the body it received in its error)
    local _, sent = run([[request POST /nowhere --json '{"a":[]}']],
      { SENDPULSE_BASE_URL = hs:url("token_then_echo", "json") })
    assert.matches('{"a":[]}', sent, 1, true)
  end)

  it("prints an answer's text that is not UTF-8 (a decoded template body) with U+FFFD, and says so", function()
    local html = tmp()
    sys.write_file(html, "<p>caf\233</p>")   -- Latin-1
    local created = assert(json.decode((run("email create_template name=latin1 body=@" .. q(html)))))
    local o, e, rc = run("email get_template_by_id template_id=" .. created.real_id)
    assert.equal(0, rc, e)
    local template = assert(json.decode(o), "stdout is JSON")
    assert.equal("<p>caf\239\191\189</p>", template.body)
    assert.matches("the answer holds bytes that are not UTF%-8 text; they are shown as U%+FFFD", e)
    os.remove(html)
  end)

  it("refuses two field paths that name the same place, naming both, and sends nothing", function()
    local id = new_list("Paths")
    local before = #sb:stats().requests
    local o, e, rc = run(("email add_emails_to_mailing_list id=%d emails.1.email=a@example.com "
      .. "emails.01.email=b@example.com"):format(id))
    assert.equal(2, rc)
    assert.equal("", o)
    assert.matches("the fields 'emails.1.email' and 'emails.01.email' name the same place "
      .. "%(value.emails%[1%].email%)", e)
    local _
    _, e, rc = run(("email add_emails_to_mailing_list id=%d emails.1=x emails.1.email=a@example.com"):format(id))
    assert.equal(2, rc)
    assert.matches("the fields 'emails.1' and 'emails.1.email' collide", e)
    assert.equal(before, #sb:stats().requests)
    -- distinct places still merge into one body
    _, e, rc = run(("email add_emails_to_mailing_list id=%d emails.1.email=a@example.com "
      .. "emails.1.variables.n=1 emails.2.email=b@example.com"):format(id))
    assert.equal(0, rc, e)
  end)

  describe("an export's temporary file", function()
    local id, out, part, folder
    before_each(function()
      id = new_list("Slow", 300)
      out = tmp() .. ".csv"
      part = out .. "." .. core.uid() .. ".tmp"
      folder = out:match("^(.*)/")
      -- each page 0.5 s late: the export takes about 2 s (4 pages)
      sb:fault { kind = "delay", delay = 0.5, path = "^/addressbooks/%d+/emails$", method = "GET", count = -1 }
    end)
    after_each(function()
      os.remove(out)
      os.remove(part)
    end)

    -- The temporary is private (core.temp): unnamed (O_TMPFILE) where the
    -- file system allows, so it is found through the process's descriptors
    -- (/proc/PID/fd: "FOLDER/#INODE (deleted)"), or `part` where it is named.
    -- At most 20 s, the slack for a loaded machine (it takes about 0.1 s).
    local function wait_for_temp(pid)
      local deadline = socket.gettime() + 20
      while true do
        if sys.exists(part) then return end
        local p = io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null")
        local fds = p:read("*a")
        p:close()
        if fds:find(folder .. "/#", 1, true) then return end
        assert(socket.gettime() < deadline, "the export made no temporary file")
        socket.sleep(0.01)
      end
    end

    -- Whatever is left in the folder beside the output: no temporary.
    local function leftovers()
      local p = io.popen("ls -A " .. q(folder))
      local names, base = {}, out:match("[^/]+$")
      for name in p:lines() do
        if name ~= base and name:sub(1, #base) == base then names[#names + 1] = name end
      end
      p:close()
      return names
    end

    -- SIGINT is another matter: lua.c and luajit.c turn it into the Lua
    -- error "interrupted!", which the export's failure path sees (it removes
    -- the file) and the command reports as exit 130.
    for _, signal in ipairs { { "TERM", 15 }, { "INT", 2 }, { "HUP", 1 }, { "KILL", 9 } } do
      it("leaves nothing when SIG" .. signal[1] .. " ends the export, which still dies of it", function()
        local pid, wait = start(("export %d --output %s"):format(id, q(out)))
        wait_for_temp(pid)
        assert(os.execute("kill -" .. signal[1] .. " " .. pid))
        local rc = wait()
        assert.equal(signal[1] == "INT" and 130 or 128 + signal[2], rc)
        assert.same({}, leftovers())
        assert.is_false(sys.exists(out))
        local _, e, code = run(("export %d --output %s"):format(id, q(out)))
        assert.equal(0, code, e)
        local _, lines = sys.read_file(out):gsub("\n", "")
        assert.equal(301, lines)
      end)
    end

    it("of two exports to one path at once: each publishes a whole file, nothing is left", function()
      local pid, wait = start(("export %d --output %s"):format(id, q(out)))
      wait_for_temp(pid)
      local _, e, rc = run(("export %d --output %s"):format(id, q(out)))
      assert.equal(0, rc, e)
      local rc1, e1 = wait()
      assert.equal(0, rc1, e1)
      local _, lines = sys.read_file(out):gsub("\n", "")
      assert.equal(301, lines)
      assert.same({}, leftovers())
    end)
  end)

  it("stops an export against a server that ignores offset: exit 7, and says why", function()
    -- `timeout` turns the endless export of before into exit 124, a failure
    -- (60 s: the export stops after two pages, well under a second)
    local paging = { SENDPULSE_BASE_URL = hs:url("ignore_offset", 150) }
    local o, e, rc = run("export 7", paging, 60)
    assert.equal(7, rc, e)
    assert.matches("decode error %(paging_loop%).*the server ignores 'offset'", e)
    local _, lines = o:gsub("\n", "")
    assert.equal(101, lines)
    local _
    _, e, rc = run("email get_emails_from_mailing_list id=7 --all", paging, 60)
    assert.equal(7, rc, e)
  end)

  it("--raw-cells and --batch-bytes reach the import and the export", function()
    local input = tmp() .. ".csv"
    local long = string.rep("x", 700)
    sys.write_file(input, "email,note\nann@example.com,=1+1\nbob@example.com," .. long .. "\ncy@example.com,"
      .. long .. "\ndan@example.com," .. long .. "\n")
    local id = new_list("Cells")
    -- 1024 bytes: a batch closes at its second long row
    local o, e, rc = run(("import %d %s --batch-bytes 1024 --no-journal --progress none"):format(id, q(input)))
    assert.equal(0, rc, e)
    assert.equal(2, json.decode(o).batches)
    o = run("export " .. id)
    assert.matches("\nann@example.com,'=1%+1\n", o)
    o = run("export " .. id .. " --raw-cells")
    assert.matches("\nann@example.com,=1%+1\n", o)
    local _
    _, e, rc = run(("import %d %s --batch-bytes 10"):format(id, q(input)))
    assert.equal(2, rc)
    assert.matches("argument 'batch_bytes' must be an integer from 1024", e)
    os.remove(input)
    os.remove(input .. ".rejects.csv")
  end)
end)
