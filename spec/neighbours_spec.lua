-- Another user on the same machine (issue 21, docs/security.md): a
-- neighbour with their own account (support.neighbour: a throw-away system
-- user, every file they plant made by their own process) attacks the files
-- the library keeps in folders they can write: a journal planted beside a
-- CSV file, a link or a file of theirs where an export's temporary goes, a
-- profile file or a token folder flipped for theirs while the library reads
-- it (hundreds of times, with a process flipping it in a loop). Then what a
-- user does to their own journal by hand (tampered fields, an offset inside
-- a record, two imports at once), and profile files that are not files.
-- Everything over real files, real processes and the sandbox.
local sandbox = require "support.sandbox_process"
local neighbour = require "support.neighbour"
local sys = require "support.sys"
local json = require "sendpulse.json"
local core = require "sendpulse.core"
local sendpulse = require "sendpulse"
local credentials = require "sendpulse.cli.credentials"
local token_store = require "sendpulse.account.token_store.file"

local LUA = os.getenv("LUA") or "lua5.4"
local q = sys.shell_quote
local SECRET = "sandbox-secret"

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function uid_of_file(path)
  local p = io.popen("stat -c %u " .. q(path))
  local out = p:read("*a")
  p:close()
  return tonumber(out)
end

local function mode_of(path)
  local p = io.popen("stat -c %a " .. q(path))
  local out = p:read("*a")
  p:close()
  return out:match("%d+")
end

-- What a folder holds: { name = true }.
local function listing(dir)
  local out = {}
  for name in io.popen("ls -A " .. q(dir)):lines() do out[name] = true end
  return out
end

describe("another user on the same machine #files", function()
  local sb, home, env, n, why

  -- Runs `bin/sendpulse <args>` with a clean environment (at most 60 s: a
  -- blocked command is a failure, not a hung suite); stdout, stderr, code.
  local function run(args, extra)
    local o, e, rc = sys.run_cli(LUA, args, env, extra, 60)
    assert.is_nil(o:find(SECRET, 1, true), "the secret is on stdout")
    assert.is_nil(e:find(SECRET, 1, true), "the secret is on stderr")
    return o, e, rc
  end

  local lists = 0
  local function new_list(name)
    local client = sendpulse.new { client_id = "sandbox-id", client_secret = SECRET, base_url = sb.url,
                                   rate_limit = false }
    lists = lists + 1
    local list = client.email:create_mailing_list { bookName = name .. " " .. lists }
    return list.id, client
  end

  -- How often each address was sent to the list (the sandbox's control API).
  local function writes_of(id)
    local value = sb:control("GET", "/_sandbox/addressbooks/" .. id)
    local out, total = {}, 0
    for _, e in ipairs(value.emails) do
      out[e.email] = e.writes
      total = total + e.writes
    end
    return out, total
  end

  local function write_csv(path, rows)
    local lines = { "email,name" }
    for i = 1, rows do lines[#lines + 1] = ("r%d@example.com,Row %d"):format(i, i) end
    sys.write_file(path, table.concat(lines, "\n") .. "\n")
  end

  lazy_setup(function()
    sb = sandbox.start { rate = 0 }
    home = tmp()
    assert(os.execute("mkdir -p " .. q(home .. "/tokens") .. " && chmod 700 " .. q(home)))
    n, why = neighbour.get()
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    os.execute("rm -rf " .. q(home))
  end)
  before_each(function()
    sb:reset()
    env = { HOME = home, SENDPULSE_BASE_URL = sb.url, SENDPULSE_CLIENT_ID = "sandbox-id",
            SENDPULSE_CLIENT_SECRET = SECRET, SENDPULSE_TOKEN_DIR = home .. "/tokens" }
  end)

  -- Each test that needs a second user: pending (counted as skipped) when
  -- this suite cannot have one.
  local function with_neighbour(name, fn)
    it(name, function()
      if not n then
        pending("needs another user: " .. tostring(why))
        return
      end
      fn()
    end)
  end

  describe("a journal planted beside the CSV file", function()
    with_neighbour("is refused, and no row is skipped: the import sends none, then every row with "
      .. "a journal of its own", function()
      local shared = neighbour.shared_folder()
      local file = shared .. "/contacts.csv"
      write_csv(file, 50)
      local id = new_list("planted")
      -- The neighbour reads the CSV (0644) and writes the journal a finished
      -- run of it would leave (what a version without the owner check
      -- believed: see the issue).
      local text = sys.read_file(file)
      local header_end = text:find("\n", 1, true)
      local planted = json.encode {
        version = 1, list = id, runs = 1, complete = true,
        input = { kind = "csv", size = #text, header = "email,name", probe = text:sub(#text - 63) },
        position = { offset = #text, line = 52 }, counts = { added = 50, rejected = 0, blank = 0 },
        rejects_size = 12,
      }
      assert(header_end)
      assert(n:run("printf '%s' " .. q(planted) .. " > " .. q(file .. ".journal")))
      assert.equal(n.uid, uid_of_file(file .. ".journal"))
      local o, e, rc = run(("import %d %s"):format(id, q(file)))
      assert.equal(2, rc, o .. e)
      assert.matches(("journal %s is owned by uid %d, not by you %%(0%%): refusing it"):format(
        (file .. ".journal"):gsub("%p", "%%%0"), n.uid), e)
      local _, total = writes_of(id)
      assert.equal(0, total)
      -- the user's way out: a journal somewhere of their own
      local summary = json.decode((run(("import %d %s --journal %s --rejects %s"):format(id, q(file),
        q(home .. "/contacts.journal"), q(home .. "/contacts.rejects.csv")))))
      assert.same({ 50, 0, true }, { summary.added, summary.skipped, summary.complete })
      assert.equal(50, select(2, writes_of(id)))
      -- a symbolic link planted as the journal is not followed either
      local private = home .. "/private.txt"
      sys.write_file(private, "mine\n")
      assert(n:run("rm -f " .. q(file .. ".journal") .. " && ln -s " .. q(private) .. " " .. q(file .. ".journal")))
      o, e, rc = run(("import %d %s"):format(id, q(file)))
      assert.equal(2, rc, o .. e)
      assert.matches("is a symbolic link: refusing it", e)
      assert.equal("mine\n", sys.read_file(private))
      os.execute("rm -rf " .. q(shared))
    end)
  end)

  describe("export --output in a shared folder", function()
    local function filled_list(rows)
      local id, client = new_list("export")
      local i = 0
      client.email:import { id = id, rows = function()
        i = i + 1
        if i <= rows then return { email = ("e%d@example.com"):format(i) } end
      end }
      client:close()
      return id
    end

    with_neighbour("never follows a link or adopts a file planted at its temporary's name; "
      .. "the export is the user's, 0600", function()
      local shared = neighbour.shared_folder()
      local id = filled_list(30)
      local out = shared .. "/out.csv"
      local tmpname = out .. ".0.tmp"   -- the name an earlier version wrote through
      local private = home .. "/private.txt"
      sys.write_file(private, "mine\n")
      os.execute("chmod 600 " .. q(private))
      -- a link to the user's private file
      assert(n:run("ln -s " .. q(private) .. " " .. q(tmpname)))
      local o, e, rc = run(("export %d --output %s"):format(id, q(out)))
      assert.equal(0, rc, o .. e)
      assert.equal("mine\n", sys.read_file(private))
      assert.equal(0, uid_of_file(out))
      assert.equal("600", mode_of(out))
      assert.matches("^email\n", sys.read_file(out))
      assert.equal(31, select(2, sys.read_file(out):gsub("\n", "")))
      -- a file of theirs that anyone may write
      os.remove(out)
      assert(n:run("rm -f " .. q(tmpname) .. " && printf planted > " .. q(tmpname) .. " && chmod 666 " .. q(tmpname)))
      o, e, rc = run(("export %d --output %s"):format(id, q(out)))
      assert.equal(0, rc, o .. e)
      assert.equal(0, uid_of_file(out))
      assert.equal("600", mode_of(out))
      assert.equal(n.uid, uid_of_file(tmpname))
      assert.equal("planted", sys.read_file(tmpname))
      -- ...and the neighbour cannot read the export
      local read_ok, said = n:run("cat " .. q(out))
      assert.is_false(read_ok, said)
      assert.matches("Permission denied", said)
      os.execute("rm -rf " .. q(shared))
    end)

    it("is 0600 unattacked too, and a killed export leaves no temporary file", function()
      local dir = tmp()
      assert(os.execute("mkdir " .. q(dir)))
      local id = filled_list(1000)
      local out = dir .. "/out.csv"
      local o, e, rc = run(("export %d --output %s"):format(id, q(out)))
      assert.equal(0, rc, o .. e)
      assert.equal("600", mode_of(out))
      -- pages slowed down: 10 pages of 100, 0.3 s each
      sb:fault { kind = "delay", delay = 0.3, path = "/emails", method = "GET", count = -1 }
      local words = { "env -i", "PATH=" .. q(os.getenv("PATH")) }
      for k, v in pairs(env) do words[#words + 1] = k .. "=" .. q(v) end
      local p = io.popen(table.concat(words, " ") .. " " .. LUA .. " bin/sendpulse export " .. id
        .. " --output " .. q(out .. ".new") .. " >/dev/null 2>&1 & echo $!")
      local pid = tonumber(p:read("*a"))
      p:close()
      -- wait until it has its temporary open (a descriptor into the folder
      -- that is not the CSV it writes yet), then kill it
      local open_temp
      for _ = 1, 200 do
        local l = io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null"):read("*a")
        open_temp = l:match(dir:gsub("%p", "%%%0") .. "/[^\n]*")
        if open_temp then break end
        os.execute("sleep 0.05")
      end
      assert.is_truthy(open_temp, "the export never opened its temporary file")
      os.execute("kill -9 " .. pid)
      for _ = 1, 100 do
        if not sys.exists("/proc/" .. pid .. "/status") then break end
        os.execute("sleep 0.05")
      end
      assert.same({ ["out.csv"] = true }, listing(dir))
      -- and the next run writes it whole
      sb:control("DELETE", "/_sandbox/faults")
      o, e, rc = run(("export %d --output %s"):format(id, q(out .. ".new")))
      assert.equal(0, rc, o .. e)
      assert.equal(sys.read_file(out), sys.read_file(out .. ".new"))
      assert.same({ ["out.csv"] = true, ["out.csv.new"] = true }, listing(dir))
      os.execute("rm -rf " .. q(dir))
    end)
  end)

  describe("the profile file", function()
    with_neighbour("flipped between the user's and the neighbour's while it is read 300 times and more: "
      .. "the neighbour's is never used", function()
      local shared = neighbour.shared_folder()
      local mine = home .. "/credentials"
      sys.write_file(mine, "[default]\napi_key = mine\nbase_url = http://mine.invalid\n")
      os.execute("chmod 600 " .. q(mine))
      local theirs = shared .. "/theirs"
      assert(n:run("printf '[default]\\napi_key = theirs\\nbase_url = http://theirs.invalid\\n' > " .. q(theirs)
        .. " && chmod 600 " .. q(theirs)))
      local link = shared .. "/credentials"
      local flipper = n:start([[
        my ($stop, $link, $a, $b) = @ARGV; my $i = 0;
        symlink($a, $link); print "flipping\n";
        until (-e $stop) { symlink(($i++ % 2) ? $a : $b, "$link.t"); rename("$link.t", $link); }
        print "$i\n";]], link, mine, theirs)
      local getenv = function(k) if k == "SENDPULSE_CREDENTIALS" then return link end end
      local counts = { mine = 0, theirs = 0, refused = 0 }
      local others = {}
      -- at least 300 reads, and for 1.5 s at least, so that they meet the
      -- flipping even when the flipper starts slowly on a loaded machine
      local reads, until_t = 0, core.monotonic() + 1.5
      while reads < 300 or core.monotonic() < until_t do
        reads = reads + 1
        local got, err = credentials.resolve({}, getenv)
        if got and got.base_url == "http://mine.invalid" then counts.mine = counts.mine + 1
        elseif got and got.base_url == "http://theirs.invalid" then counts.theirs = counts.theirs + 1
        elseif not got and err:find("is owned by uid " .. n.uid, 1, true) then counts.refused = counts.refused + 1
        else others[#others + 1] = tostring(err) end
      end
      local flips = tonumber(flipper:stop())
      assert.equal(0, counts.theirs, "reads of the neighbour's profile")
      -- the reads met the link both ways: the flipping was on while they ran
      assert.is_true(counts.mine > 0 and counts.refused > 0 and flips > 0,
        ("%d reads: mine %d, refused %d, other outcomes %d (%s), %s flips"):format(reads, counts.mine,
          counts.refused, #others, tostring(others[1]), tostring(flips)))
      -- a profile the neighbour owns, named directly: refused with the rule
      local _, e, rc = run("email get_balance", { SENDPULSE_CREDENTIALS = theirs, SENDPULSE_CLIENT_ID = false,
                                                  SENDPULSE_CLIENT_SECRET = false })
      assert.equal(2, rc)
      assert.matches("profile file .* is owned by uid " .. n.uid .. ", not by you %(0%): refusing it", e)
      os.execute("rm -rf " .. q(shared))
    end)

    it("a FIFO is refused at once, a folder with a message, not a traceback; a missing one is none", function()
      local fifo = home .. "/fifo"
      assert(os.execute("mkfifo -m 600 " .. q(fifo)))
      local no_env = { SENDPULSE_CLIENT_ID = false, SENDPULSE_CLIENT_SECRET = false }
      no_env.SENDPULSE_CREDENTIALS = fifo
      local _, e, rc = run("email get_balance", no_env)
      assert.equal(2, rc, e)
      assert.matches("profile file " .. fifo:gsub("%p", "%%%0") .. " is a FIFO, not a regular file: refusing it", e)
      local folder = home .. "/profile-folder"
      assert(os.execute("mkdir -m 700 " .. q(folder)))
      no_env.SENDPULSE_CREDENTIALS = folder
      _, e, rc = run("email get_balance", no_env)
      assert.equal(2, rc, e)
      assert.matches("is a folder, not a regular file: refusing it", e)
      assert.is_nil(e:find("traceback", 1, true))
      -- and no file at all (its folder missing too) is no profile, as before
      no_env.SENDPULSE_CREDENTIALS = home .. "/no-such-folder/credentials"
      _, e, rc = run("email get_balance", no_env)
      assert.equal(2, rc, e)
      assert.matches("no credentials: set SENDPULSE_CLIENT_ID", e)
      os.remove(fifo)
      os.execute("rmdir " .. q(folder))
    end)
  end)

  describe("the token folder", function()
    with_neighbour("exchanged for the neighbour's while tokens are read 300 times and more: the "
      .. "neighbour's token is never read", function()
      local shared = neighbour.shared_folder()
      local dir = shared .. "/tokens"
      local key = "sendpulse:token:0123456789abcdef"
      local store = token_store.new { dir = dir }
      store:set(key, "mine", 3600)
      store = nil   -- luacheck: ignore
      -- the neighbour's own folder holding their token under the same name
      local evil = shared .. "/evil"
      local name = key:gsub("[^%w_.-]", "_") .. ".token"
      assert(n:run(("mkdir -m 700 %s && printf 'sendpulse-token 1\\n%d\\ntheirs' > %s && chmod 600 %s"):format(
        q(evil), os.time() + 3600, q(evil .. "/" .. name), q(evil .. "/" .. name))))
      local swapper = n:start([[
        my ($stop, $dir, $evil, $spare) = @ARGV; my $i = 0;
        print "exchanging\n";
        until (-e $stop) { rename($dir, $spare); rename($evil, $dir); rename($dir, $evil);
                           rename($spare, $dir); $i++; }
        print "$i\n";]], dir, evil, shared .. "/spare")
      local counts = { mine = 0, theirs = 0, failed = 0 }
      local reads, until_t = 0, core.monotonic() + 1.5   -- (as above)
      while reads < 300 or core.monotonic() < until_t do
        reads = reads + 1
        local ok, token = pcall(function() return token_store.new { dir = dir }:get(key) end)
        if ok and token == "mine" then counts.mine = counts.mine + 1
        elseif ok and token == "theirs" then counts.theirs = counts.theirs + 1
        else counts.failed = counts.failed + 1 end
      end
      local swaps = tonumber(swapper:stop())
      assert.equal(0, counts.theirs, "reads of the neighbour's token")
      -- the reads met both folders: the exchanging was on while they ran
      assert.is_true(counts.mine > 0 and counts.failed > 0 and swaps > 0,
        ("%d reads: mine %d, failed or none %d, %s exchanges"):format(reads, counts.mine, counts.failed,
          tostring(swaps)))
      os.execute("rm -rf " .. q(shared))
    end)
  end)

  describe("a journal of the user's own", function()
    -- A journal the code under test writes: an import stopped after its
    -- first batch by a failure (the second add fails with a 500).
    local function stopped_import(rows)
      local dir = tmp()
      assert(os.execute("mkdir " .. q(dir)))
      local file = dir .. "/contacts.csv"
      write_csv(file, rows)
      local id = new_list("tamper")
      sb:fault { kind = "delay", delay = 0.001, path = "/emails", method = "POST", count = 1 }
      sb:fault { kind = "status", status = 500, body = "{}", path = "/emails", method = "POST", count = -1 }
      local _, e, rc = run(("import %d %s --batch 10"):format(id, q(file)))
      sb:control("DELETE", "/_sandbox/faults")
      assert.equal(1, rc, e)
      return id, file, dir
    end

    -- Rewrites the journal with edit(state, text) applied, still 0600.
    local function tamper(file, edit)
      local path = file .. ".journal"
      local state = json.decode(sys.read_file(path))
      local text = edit(state, sys.read_file(file)) or json.encode(state)
      sys.write_file(path, text)
      os.execute("chmod 600 " .. q(path))
    end

    it("with a field missing, of the wrong type or out of bounds: exit 2 naming the field, nothing sent", function()
      local cases = {
        { "missing counts", function(s) s.counts = nil end, "'counts' must be an object" },
        { "a count as a string", function(s) s.counts.added = "10" end,
          "'counts.added' must be a whole number from 0 to 2^53, got \"10\" %(a string%)" },
        { "a fractional size", function(s) s.input.size = s.input.size + 0.5 end,
          "'input.size' must be a whole number from 0 to 2^53" },
        { "a size of 1e18", function(s) s.input.size = 1e18 end,
          "'input.size' must be a whole number from 0 to 2^53, got 1e%+18" },
        { "a rejects size of 1e18", function(s) s.rejects_size = 1e18 end,
          "'rejects_size' must be a whole number from 0 to 2^53" },
        { "a negative offset", function(s) s.position.offset = -5 end,
          "'position.offset' must be a whole number from 0 to 2^53, got %-5" },
        { "not JSON", function() return "{\"version\": 2, " end, "is not readable" },
        { "4 MiB of spaces", function() return string.rep(" ", 4 * 1048576) end, "is larger than 65536 bytes" },
      }
      for _, case in ipairs(cases) do
        local id, file, dir = stopped_import(40)
        local _, before = writes_of(id)
        tamper(file, case[2])
        local _, e, rc = run(("import %d %s --batch 10"):format(id, q(file)))
        assert.equal(2, rc, case[1] .. ": " .. e)
        assert.matches(case[3], e, 1, false, case[1])
        assert.is_nil(e:find("traceback", 1, true), case[1])
        assert.is_nil(e:find("not enough memory", 1, true), case[1])
        assert.equal(before, select(2, writes_of(id)), case[1] .. ": rows were sent")
        os.execute("rm -rf " .. q(dir))
      end
    end)

    it("with its position moved inside a record: refused, never resumed mid-line", function()
      local id, file, dir = stopped_import(600)
      local _, before = writes_of(id)
      -- "r500@example.com,..." : the position moved to the "0@" in it, and
      -- the record of the bytes before it made to match, as someone editing
      -- the journal would (version 1 kept the 64 bytes before the
      -- position; this one a fingerprint of all of them)
      tamper(file, function(s, text)
        local at = text:find("r500@example.com", 1, true) + 3
        s.position = { offset = at - 1, line = 501 }
        s.in_flight = nil
        if s.input.probe then s.input.probe = text:sub(at - 64, at - 1) end
        if s.input.prefix then s.input.prefix = core.fingerprint(text:sub(1, at - 1)) end
      end)
      local _, e, rc = run(("import %d %s --batch 10"):format(id, q(file)))
      assert.equal(2, rc, e)
      assert.matches("not the file the journal .* was written for", e)
      local writes, total = writes_of(id)
      assert.equal(before, total)
      assert.is_nil(writes["0@example.com"])
      os.execute("rm -rf " .. q(dir))
      -- the same position, fingerprint left as the run wrote it
      id, file, dir = stopped_import(600)
      tamper(file, function(s, text)
        s.position.offset = text:find("r500@example.com", 1, true) + 2
        s.in_flight = nil
      end)
      _, e, rc = run(("import %d %s --batch 10"):format(id, q(file)))
      assert.equal(2, rc, e)
      assert.matches("not the file the journal .* was written for", e)
      os.execute("rm -rf " .. q(dir))
    end)

    it("that others can read is refused", function()
      local id, file, dir = stopped_import(40)
      os.execute("chmod 644 " .. q(file .. ".journal"))
      local _, e, rc = run(("import %d %s"):format(id, q(file)))
      assert.equal(2, rc)
      assert.matches("can be read or written by others %(mode 644%): refusing it; run: chmod 600", e)
      os.execute("rm -rf " .. q(dir))
    end)

    it("two imports of one file at once: the second is refused, exit 16; every row is sent once", function()
      local dir = tmp()
      assert(os.execute("mkdir " .. q(dir)))
      local file = dir .. "/contacts.csv"
      write_csv(file, 20)
      local id = new_list("twice")
      -- 10 batches of 2, each answered 0.5 s late: the first run lasts 5 s,
      -- time enough for the second to start (a second at most, loaded)
      sb:fault { kind = "delay", delay = 0.5, path = "/emails", method = "POST", count = -1 }
      local words = { "env -i", "PATH=" .. q(os.getenv("PATH")) }
      for k, v in pairs(env) do words[#words + 1] = k .. "=" .. q(v) end
      local first = io.popen(table.concat(words, " ") .. " " .. LUA .. " bin/sendpulse import " .. id .. " "
        .. q(file) .. " --batch 2 >/dev/null 2>&1; echo $?")
      -- once the first run has a batch in flight
      for _ = 1, 200 do
        if sys.read_file(file .. ".journal"):find('"in_flight"', 1, true) then break end
        os.execute("sleep 0.05")
      end
      local o, e, rc = run(("import %d %s --batch 2"):format(id, q(file)))
      assert.equal(16, rc, o .. e)
      assert.matches("another import is running with the journal .*: refusing to start a second one", e)
      local first_rc = tonumber(first:read("*a"))
      first:close()
      assert.equal(0, first_rc)
      local writes, total = writes_of(id)
      assert.equal(20, total)
      for i = 1, 20 do assert.equal(1, writes[("r%d@example.com"):format(i)]) end
      os.execute("rm -rf " .. q(dir))
    end)
  end)
end)
