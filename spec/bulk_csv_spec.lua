-- The CSV reader and writer of the bulk jobs: RFC 4180 as people export it,
-- records that span chunk boundaries, malformed records reported with their
-- line and skipped, a bound on a record's size, positions to resume from.
local csv = require "sendpulse.bulk.csv"

local function read_all(text, opts)
  local r = assert(csv.string_reader(text, opts))
  local records, bad = {}, {}
  while true do
    local fields, where = r:next()
    if fields == nil then break end
    if fields then records[#records + 1] = { fields = fields, line = where.line }
    else bad[#bad + 1] = where end
  end
  return records, bad
end

local function fields_of(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = r.fields end
  return out
end

describe("bulk CSV", function()
  it("reads quoted fields, doubled quotes, commas and newlines inside quotes, a BOM and CRLF", function()
    local text = '\239\187\191email,name\r\n"a@x.io","Smith, ""Jo"""\r\nb@x.io,"two\r\nlines"\r\nc@x.io,\r\n'
    local records, bad = read_all(text)
    assert.same({}, bad)
    assert.same({ { "email", "name" }, { "a@x.io", 'Smith, "Jo"' }, { "b@x.io", "two\r\nlines" }, { "c@x.io", "" } },
      fields_of(records))
    assert.same({ 1, 2, 3, 5 }, { records[1].line, records[2].line, records[3].line, records[4].line })
  end)

  it("takes a last record without a line end, and LF-only files", function()
    assert.same({ { "a", "b" }, { "c", "d" } }, fields_of((read_all("a,b\nc,d"))))
  end)

  it("reports a malformed record with its line and goes on at the next line", function()
    local records, bad = read_all('email\nok@x.io\nbad"quote\n"closed"junk\nlast@x.io\n')
    assert.same({ { "email" }, { "ok@x.io" }, { "last@x.io" } }, fields_of(records))
    assert.equal(2, #bad)
    assert.same({ 3, 4 }, { bad[1].line, bad[2].line })
    assert.matches("malformed quoting", bad[1].reason)
  end)

  it("bounds a record: a stray quote cannot swallow the file", function()
    local rows = { 'email,name', 'a@x.io,"never closed' }
    for i = 1, 50 do rows[#rows + 1] = ("u%d@x.io,name %d"):format(i, i) end
    local text = table.concat(rows, "\n") .. "\n"
    local records, bad = read_all(text, { max_record = 200, chunk = 64 })
    assert.equal(1, #bad)
    assert.equal(2, bad[1].line)
    assert.matches("longer than 200 bytes", bad[1].reason)
    assert.equal(51, #records)              -- the header and all 50 rows after it
    assert.same({ "u1@x.io", "name 1" }, records[2].fields)
    assert.equal(3, records[2].line)
    -- at the end of the input, an open quote is reported too
    local _, bad2 = read_all('a,b\n"open,\n')
    assert.matches("not closed before the end", bad2[1].reason)
  end)

  it("gives the same records whatever the chunk size (records across chunk boundaries)", function()
    local text = '\239\187\191email,note\r\n"x@y.io","a,""b""\nc"\r\nz@y.io,plain\r\nbad"q,1\r\n"w@y.io",""\r\n'
    local want_records, want_bad = read_all(text)
    for chunk = 1, 23 do
      local got, bad = read_all(text, { chunk = chunk })
      assert.same(fields_of(want_records), fields_of(got), "chunk " .. chunk)
      assert.equal(#want_bad, #bad)
      assert.equal(want_bad[1].line, bad[1].line)
    end
  end)

  it("resumes at a record's offset with its line number", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write('\239\187\191h1,h2\r\n1,"a\nb"\r\n2,c\r\n3,d\r\n')
    f:close()
    local r = assert(csv.reader(path))
    r:next()
    local _, second = r:next()
    r:close()
    local again = assert(csv.reader(path, { offset = second.next_offset, line = 4 }))
    local fields, where = again:next()
    assert.same({ "2", "c" }, fields)
    assert.equal(4, where.line)
    again:close()
    os.remove(path)
  end)

  it("writes the same rules: quotes only where needed, integers without .0", function()
    assert.equal('a,"b,c","say ""hi""","x\ny",7,\n', csv.format({ "a", "b,c", 'say "hi"', "x\ny", 7, nil }, 6))
    local line = csv.format({ "q@x.io", 'He said "no", twice\r\n' })
    local records = read_all(line)
    assert.same({ "q@x.io", 'He said "no", twice\r\n' }, records[1].fields)
  end)
end)
