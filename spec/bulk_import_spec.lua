-- Issue 12's proofs for the bulk jobs, against the sandbox (whose state for
-- lists and contacts is real, issue 11 item 8): a generated 20,000-row CSV
-- with variables, tricky quoting and 1% bad rows is imported with every good
-- row exactly once and every bad row in the rejects file with its line; the
-- same with a SIGKILL at a random moment and a resume, five times in a row;
-- an export gives back the input; a failure stops the run resumably.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local csv = require "sendpulse.bulk.csv"
local sandbox = require "support.sandbox_process"
local gen = require "support.contacts_csv"
local sys = require "support.sys"
local socket = require "socket"

local LUA = os.getenv("LUA") or "lua5.4"

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- The rejects file as { [line] = reason } (and how many rows it holds).
local function read_rejects(path)
  local r = assert(csv.reader(path))
  local header = r:next()
  assert.same({ "line", "reason" }, { header[1], header[2] })
  local out, n = {}, 0
  while true do
    local fields = r:next()
    if fields == nil then break end
    assert.is_truthy(fields, "the rejects file is valid CSV")
    n = n + 1
    local line = tonumber(fields[1])
    assert.is_nil(out[line], "line " .. tostring(line) .. " is in the rejects file twice")
    out[line] = fields[2]
  end
  r:close()
  return out, n
end

-- Every contact of a list: { [email] = variables }.
local function contacts_of(client, id)
  local out, n = {}, 0
  for c in client.email:each("get_emails_from_mailing_list", { id = id }) do
    assert.is_nil(out[c.email], c.email .. " is in the list twice")
    out[c.email] = c.variables
    n = n + 1
  end
  return out, n
end

-- How often each address was sent to the list (the sandbox's control API).
local function writes_of(sb, id)
  local value = sb:control("GET", "/_sandbox/addressbooks/" .. id)
  local out = {}
  for _, e in ipairs(value.emails) do out[e.email] = e.writes end
  return out
end

describe("bulk import and export #bulk", function()
  local sb, client, info, input
  lazy_setup(function()
    sb = sandbox.start { rate = 0 }
    input = tmp() .. ".csv"
    info = gen.write(input, { rows = 20000, bad_every = 100, api_bad_every = 2000, bom = true, seed = 7 })
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    os.remove(input)
  end)
  before_each(function()
    sb:reset()
    client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                             rate_limit = false }
  end)
  after_each(function() client:close() end)

  it("imports 20,000 rows: every good row exactly once, every bad row in the rejects file with its line", function()
    assert.equal(20000 - 200, info.good_count)
    assert.equal(200, info.bad_count)
    local id = client.email:create_mailing_list { bookName = "Import" }.id
    local journal, rejects = tmp(), tmp()
    local seen = 0
    local summary = client.email:import { id = id, rows = input, batch = 500, journal = journal, rejects = rejects,
      progress = function(p) seen = seen + 1; assert.is_true(p.rows <= 20000) end }
    assert.is_true(summary.complete)
    assert.equal(info.good_count, summary.added)
    assert.equal(info.bad_count, summary.rejected)
    assert.is_true(seen >= 40)

    local got, n = contacts_of(client, id)
    assert.equal(info.good_count, n)
    for email, vars in pairs(info.good) do
      assert.same(vars, got[email], email)
    end
    for email, writes in pairs(writes_of(sb, id)) do
      assert.equal(1, writes, email .. " was sent " .. writes .. " times")
    end

    local rejected, count = read_rejects(rejects)
    assert.equal(info.bad_count, count)
    for line, kind in pairs(info.bad) do
      local reason = rejected[line]
      assert.is_not_nil(reason, "bad line " .. line .. " (" .. kind .. ") is not in the rejects file")
      if kind == "api" then assert.matches("refused by the API: Email address syntax error", reason) end
      if kind == "width" then assert.matches("has 2 fields, the header has 4", reason) end
      if kind == "quote" then assert.matches("malformed quoting", reason) end
      if kind == "email" then assert.matches("not an email address", reason) end
    end

    -- The same command again: the journal says it is done; nothing is sent.
    local before = #sb:stats().requests
    local again = client.email:import { id = id, rows = input, batch = 500, journal = journal, rejects = rejects }
    assert.is_true(again.complete and again.resumed)
    assert.equal(0, again.added)
    assert.equal(info.good_count + info.bad_count, again.skipped)
    assert.equal(before, #sb:stats().requests)
    os.remove(journal)
    os.remove(rejects)
  end)

  it("survives SIGKILL at a random moment, five times in a row: still exactly once, nothing lost", function()
    local id = client.email:create_mailing_list { bookName = "Killed" }.id
    local journal, rejects = tmp(), tmp()
    local batch = 100
    -- each add answered 5 ms late, so a run lasts long enough to be killed
    sb:fault { kind = "delay", delay = 0.005, path = "^/addressbooks/%d+/emails$", method = "POST", count = -1 }
    math.randomseed(os.time())
    local cmd = table.concat({ "LUA_PATH='lua/?.lua;lua/?/init.lua;;'", "LUA_CPATH=" .. sys.shell_quote(package.cpath),
      "exec", LUA, "spec/support/import_child.lua", sb.url, id, sys.shell_quote(input),
      journal, rejects, batch }, " ")
    local kills, runs = 0, 0
    while kills < 5 do
      runs = runs + 1
      assert.is_true(runs < 30, "the import kept finishing before the kill")
      local p = io.popen("sh -c " .. sys.shell_quote(cmd .. " >/dev/null 2>&1 & echo $!"))
      local pid = p:read("*l")
      p:close()
      socket.sleep(0.05 + math.random() * 0.25)
      local alive = os.execute("kill -9 " .. pid .. " 2>/dev/null")
      if alive == true or alive == 0 then kills = kills + 1 end
      socket.sleep(0.05)
    end
    -- and now to the end
    local ok, out = sys.run((cmd:gsub(" exec ", " ")))
    assert.matches("added=%d+ rejected=%d+ skipped=%d+", out)
    assert.is_true(ok or out:find("rejected=") ~= nil, out)

    local got, n = contacts_of(client, id)
    assert.equal(info.good_count, n)
    for email, vars in pairs(info.good) do assert.same(vars, got[email], email) end
    -- at most the batch in flight at each kill was sent again
    local extra = 0
    for email, writes in pairs(writes_of(sb, id)) do
      assert.is_not_nil(info.good[email], email .. " should not be in the list")
      extra = extra + writes - 1
    end
    assert.is_true(extra <= kills * batch, ("%d rows sent again after %d kills"):format(extra, kills))
    local rejected, count = read_rejects(rejects)
    assert.equal(info.bad_count, count)
    for line in pairs(info.bad) do assert.is_not_nil(rejected[line], "line " .. line) end
    os.remove(journal)
    os.remove(rejects)
  end)

  it("exports a list as CSV; importing the export gives back the same list", function()
    local good = tmp() .. ".csv"
    local g = gen.write(good, { rows = 1500, seed = 3 })
    local id = client.email:create_mailing_list { bookName = "Source" }.id
    assert.equal(g.good_count, client.email:import { id = id, rows = good }.added)
    local first = tmp()
    local e = client.email:export { id = id, out = first }
    assert.equal(1500, e.contacts)
    -- the export holds exactly the input's contacts and variables
    local r = assert(csv.reader(first))
    local header = r:next()
    assert.same({ "email", "city", "name", "note" }, header)
    local rows = 0
    while true do
      local fields = r:next()
      if fields == nil then break end
      assert.is_truthy(fields)
      rows = rows + 1
      local vars = {}
      for i = 2, #header do if fields[i] ~= "" then vars[header[i]] = fields[i] end end
      assert.same(g.good[fields[1]], vars, fields[1])
    end
    r:close()
    assert.equal(1500, rows)
    -- round trip: import the export into a new list, export again: the same bytes
    local id2 = client.email:create_mailing_list { bookName = "Copy" }.id
    assert.equal(1500, client.email:import { id = id2, rows = first }.added)
    local second = tmp()
    client.email:export { id = id2, out = second }
    assert.equal(sys.read_file(first), sys.read_file(second))
    for _, p in ipairs { good, first, second } do os.remove(p) end
  end)

  it("stops at a failure with the journal at the failed batch, and the same call resumes there", function()
    local small = tmp() .. ".csv"
    gen.write(small, { rows = 1000, seed = 5 })
    local id = client.email:create_mailing_list { bookName = "Flaky" }.id
    local journal = tmp()
    local c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                         rate_limit = false, retries = 0 }
    -- the third add fails with HTTP 503 (and the client does not retry)
    sb:fault { kind = "delay", delay = 0.001, path = "^/addressbooks/%d+/emails$", method = "POST", count = 2 }
    sb:fault { kind = "status", status = 503, body = '{"message":"busy","error_code":503}',
               path = "^/addressbooks/%d+/emails$", method = "POST", count = 1 }
    local summary, err = c.email:import { id = id, rows = small, batch = 100, journal = journal }
    assert.is_nil(summary)
    assert.equal(503, err.status)
    assert.equal(200, err.import.added)
    assert.is_false(err.import.complete)
    local resumed = assert(c.email:import { id = id, rows = small, batch = 100, journal = journal })
    assert.is_true(resumed.complete and resumed.resumed)
    assert.equal(200, resumed.skipped)
    assert.equal(800, resumed.added)
    assert.equal(100, resumed.resent)   -- the batch that was in flight
    local _, n = contacts_of(c, id)
    assert.equal(1000, n)
    c:close()
    os.remove(journal)
    os.remove(small)
  end)

  it("refuses a journal written for another file or list, and bad arguments, before any I/O", function()
    local a, b = tmp() .. ".csv", tmp() .. ".csv"
    gen.write(a, { rows = 300, seed = 1 })
    gen.write(b, { rows = 301, seed = 1 })
    local id = client.email:create_mailing_list { bookName = "Guard" }.id
    local journal = tmp()
    client.email:import { id = id, rows = a, batch = 100, journal = journal }
    local c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
    local _, err = c.email:import { id = id, rows = b, batch = 100, journal = journal }
    assert.equal("argument", err.kind)
    assert.matches("is not the file the journal", err.message)
    _, err = c.email:import { id = id + 1, rows = a, journal = journal }
    assert.matches("belongs to list", err.message)
    local args = { id = id, rows = a, batch = 5000 }
    _, err = c.email:import(args)
    assert.matches("argument 'batch' must be an integer from 1 to 1000", err.message)
    assert.equal(5000, args.batch)   -- the caller's table is not changed
    _, err = c.email:import { id = id, rows = a, bacth = 10 }
    assert.matches("unknown argument 'bacth'", err.message)
    _, err = c.email:import { rows = a }
    assert.matches("argument 'id' is required", err.message)
    c:close()
    for _, p in ipairs { a, b, journal } do os.remove(p) end
  end)

  it("never truncates an earlier rejects file: a new run appends to it, and refuses one of other columns", function()
    local id = client.email:create_mailing_list { bookName = "Twice" }.id
    local first, second, rejects = tmp() .. ".csv", tmp() .. ".csv", tmp()
    sys.write_file(first, "email,name\nann@example.com,Ann\nnot-an-email,Bad\n")
    sys.write_file(second, "email,name\nbob@example.com,Bob\nalso bad,Worse\n")
    local s1 = client.email:import { id = id, rows = first, rejects = rejects }
    local s2 = client.email:import { id = id, rows = second, rejects = rejects }
    assert.equal(1, s1.rejected)
    assert.equal(1, s2.rejected)
    -- one header, then each run's rows in order, with their lines in their own input
    assert.equal("line,reason,email,name\n3,not an email address,not-an-email,Bad\n"
      .. "3,not an email address,also bad,Worse\n", sys.read_file(rejects))
    -- a rejects file with another header is refused before anything is sent, and left as it was
    local other, before = tmp() .. ".csv", sys.read_file(rejects)
    sys.write_file(other, "email,city\ncid@example.com,Kyiv\n")
    local sent = #sb:stats().requests
    local ok, err = pcall(client.email.import, client.email, { id = id, rows = other, rejects = rejects })
    assert.is_false(ok)
    assert.equal("argument", err.kind)
    assert.equal("email:import: the rejects file " .. rejects .. " holds rows of another input (its first line "
      .. "is not line,reason,email,city): give another rejects file, or move this one away", err.message)
    assert.equal(before, sys.read_file(rejects))
    assert.equal(sent, #sb:stats().requests)
    for _, p in ipairs { first, second, other, rejects } do os.remove(p) end
  end)

  it("takes rows from an iterator too, and keeps rejects in the summary without a rejects file", function()
    local id = client.email:create_mailing_list { bookName = "Iter" }.id
    local rows = { { email = "a@example.com", variables = { name = "A" } }, { email = "nope" },
                   { email = "b@example.com", phone = "+380501234567" } }
    local i = 0
    local summary = client.email:import { id = id, rows = function() i = i + 1 return rows[i] end }
    assert.equal(2, summary.added)
    assert.equal(1, summary.rejected)
    assert.same({ line = 2, reason = "not an email address", fields = { "nope" } }, summary.rejects_list[1])
    local got = contacts_of(client, id)
    assert.same({ Phone = "+380501234567" }, got["b@example.com"])
  end)
end)
