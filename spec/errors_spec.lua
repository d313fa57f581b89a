local sendpulse = require "sendpulse"
local errors = require "sendpulse.errors"

-- Every code of the table in SendPulse's API documentation, so the map
-- cannot silently lose one.
local seed_codes = { 8, 10, 11, 13, 14, 17, 19, 20, 21, 97, 201, 203, 213, 303, 400, 502,
  602, 701, 703, 704, 707, 711, 720, 721, 722, 799, 800, 802, 901, 902, 903, 904, 905,
  906, 1101, 1003, 1004, 1005, 1104 }
-- The codes seen in SendPulse's OpenAPI files, wrappers and issues.
local extra_codes = { 12, 31, 32, 211, 290, 299, 403, 550, 573, 708, 731, 791, 832, 999,
  21356, 2900, 2020202020, 3030303030 }

describe("sendpulse.errors", function()
  it("maps every documented code to a name and a description", function()
    for _, list in ipairs { seed_codes, extra_codes } do
      for _, code in ipairs(list) do
        local e = sendpulse.errors[code]
        assert.is_table(e, "code " .. code)
        assert.matches("^[a-z_]+$", e.name)
        assert.is_true(#e.description > 5)
      end
    end
  end)

  it("knows how long the waiting codes ask to wait", function()
    assert.equal(900, sendpulse.errors[711].wait)
    assert.equal(3600, sendpulse.errors[791].wait)
    assert.equal(900, sendpulse.errors[1004].wait)
  end)

  it("builds error objects with one readable line", function()
    local e = errors.new { kind = "api", code = 213, status = 404, message = "Book not found",
                           method = "GET", path = "/addressbooks/5" }
    assert.equal("list_not_found", e.name)
    assert.equal("Mailing list not found", e.description)
    assert.is_false(e.retryable)
    assert.is_true(sendpulse.is_error(e))
    assert.equal("sendpulse: api error 213 (list_not_found) on GET /addressbooks/5: Book not found [HTTP 404]",
      tostring(e))
  end)

  it("marks 711 with the 15-minute wait", function()
    local e = errors.new { kind = "rate_limit", code = 711, message = "wait" }
    assert.equal(900, e.retry_after)
  end)
end)

describe("spec/tools/gen_error_codes.lua (docs/guide.md's code table)", function()
  local lua = os.getenv("SP_GEN_LUA") or "lua5.4"

  local function run(cmd)
    local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    return out
  end

  it("--check finds the committed table current", function()
    local out = run(lua .. " spec/tools/gen_error_codes.lua --check")
    assert.matches("rc=0", out, 1, true)
    assert.matches("docs/guide.md is up to date", out, 1, true)
  end)

  it("has one row per code of the table, with its wait", function()
    local text = io.open("docs/guide.md"):read("*a")
    local n = 0
    for code, e in pairs(errors.codes) do
      n = n + 1
      local row = text:match("\n| " .. code .. " | ([^\n]+)")
      assert.is_string(row, "no row for " .. code)
      assert.matches("`" .. e.name .. "`", row, 1, true)
      if e.wait then assert.matches("| yes | " .. e.wait .. " s (", row, 1, true) end
    end
    assert.is_true(n > 50)
  end)

  it("--check fails, naming the file, when the table and the guide differ", function()
    local tmp = os.tmpname()
    os.remove(tmp)
    os.execute("mkdir -p " .. tmp .. "/spec/tools " .. tmp .. "/docs")
    os.execute("cp spec/tools/gen_error_codes.lua " .. tmp .. "/spec/tools/")
    os.execute("cp docs/guide.md " .. tmp .. "/docs/")
    os.execute("cp -r lua " .. tmp .. "/")
    -- a wait given to a code in the table only
    local path = tmp .. "/lua/sendpulse/errors.lua"
    local text = io.open(path):read("*a")
    local edited, n = text:gsub('{ 213,        "list_not_found",           "api",        false,    false,',
                                '{ 213,        "list_not_found",           "api",        true,     60,   ')
    assert.equal(1, n)
    local f = assert(io.open(path, "w"))
    f:write(edited)
    f:close()
    local out = run(lua .. " " .. tmp .. "/spec/tools/gen_error_codes.lua --check")
    assert.matches("rc=1", out, 1, true)
    assert.matches("docs/guide.md is not current", out, 1, true)
    -- and writing it makes the row say so
    out = run(lua .. " " .. tmp .. "/spec/tools/gen_error_codes.lua")
    assert.matches("rc=0", out, 1, true)
    local guide = io.open(tmp .. "/docs/guide.md"):read("*a")
    assert.matches("\n| 213 | `list_not_found` | `api` | yes | 60 s (60 s) |", guide, 1, true)
    os.execute("rm -rf " .. tmp)
  end)
end)
