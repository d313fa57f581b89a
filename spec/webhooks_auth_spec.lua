-- The two protections a webhook URL can have (SendPulse signs nothing): a
-- secret in the URL compared in constant time, and a source-address
-- allow-list.
local secret = require "sendpulse.webhooks.secret"
local cidr = require "sendpulse.webhooks.cidr"
local webhooks = require "sendpulse.webhooks"

local SECRET = "0123456789abcdefXYZ"

describe("webhooks secret", function()
  it("equal: true only for the same string", function()
    assert.is_true(secret.equal(SECRET, SECRET))
    assert.is_true(webhooks.equal("", ""))
    for _, other in ipairs { "", "0", SECRET:sub(1, -2), SECRET .. "x", "1" .. SECRET:sub(2),
                             SECRET:sub(1, -2) .. "Y", ("\0"):rep(#SECRET) } do
      assert.is_false(secret.equal(other, SECRET), other)
    end
    assert.is_false(secret.equal(nil, SECRET))
    assert.is_false(secret.equal(SECRET, nil))
    -- bytes that sum to the same difference elsewhere do not cancel out
    assert.is_false(secret.equal("ac", "bb"))
  end)

  it("equal walks the whole expected secret wherever a guess differs", function()
    -- Count the byte reads: the same for a guess wrong at the first byte and
    -- one wrong at the last (the loop never stops early).
    local reads = 0
    local real_byte = string.byte
    local function counting(s, i) reads = reads + 1; return real_byte(s, i) end
    local env = setmetatable({ string = setmetatable({ byte = counting }, { __index = string }) },
                             { __index = _G })
    local path = package.searchpath("sendpulse.webhooks.secret", package.path)
    local chunk
    if setfenv then
      chunk = assert(loadfile(path)); setfenv(chunk, env)
    else
      chunk = assert(loadfile(path, "t", env))
    end
    local fresh = chunk()
    local function count(guess) reads = 0; fresh.equal(guess, SECRET); return reads end
    local first = count("X" .. SECRET:sub(2))
    local last = count(SECRET:sub(1, -2) .. "X")
    local right = count(SECRET)
    local short = count("X")
    assert.equal(2 * #SECRET, first)
    assert.equal(first, last)
    assert.equal(first, right)
    assert.equal(first, short)
  end)

  it("checker: rotation lists, and secrets too weak to use are refused", function()
    local check = assert(secret.checker { SECRET, "new-secret-0123456789" })
    assert.is_true(check(SECRET))
    assert.is_true(check("new-secret-0123456789"))
    assert.is_false(check("new-secret-012345678"))
    assert.is_false(check(nil))
    for _, c in ipairs {
      { "short", "at least 16 characters" }, { 42, "must be a string" },
      { ("x"):rep(513), "at most 512" }, { "0123456789abcdef/x", "only letters, digits" },
      { {}, "non-empty list" }, { { SECRET, "tiny" }, "'secret'[2] must be at least 16" },
    } do
      local ok, why = secret.checker(c[1])
      assert.is_nil(ok)
      assert.truthy(why:find(c[2], 1, true), why)
    end
  end)

  it("from_path: the last non-empty segment", function()
    assert.equal("abc", secret.from_path("/hooks/sendpulse/abc"))
    assert.equal("abc", secret.from_path("/hooks/sendpulse/abc//"))
    assert.is_nil(secret.from_path("/"))
    assert.is_nil(secret.from_path(nil))
  end)
end)

describe("webhooks allow-list (CIDR)", function()
  it("IPv4 ranges and hosts", function()
    local allowed = assert(cidr.matcher { "192.0.2.0/24", "198.51.100.7", "10.0.0.0/8", "172.16.0.0/12" })
    for _, yes in ipairs { "192.0.2.0", "192.0.2.255", "198.51.100.7", "10.200.3.4", "172.31.255.255",
                           "::ffff:192.0.2.9", "::FFFF:10.0.0.1" } do
      assert.is_true(allowed(yes), yes)
    end
    for _, no in ipairs { "192.0.3.0", "198.51.100.8", "11.0.0.1", "172.32.0.0", "", "unix:",
                          "192.0.2", "192.0.2.1.5", "::1", nil, 7 } do
      assert.is_false(allowed(no), tostring(no))
    end
  end)

  it("IPv6 ranges, compressed forms, zones in peer addresses", function()
    local allowed = assert(cidr.matcher { "2001:db8::/32", "fe80::1", "::1", "2001:db8:abcd:12::/63" })
    for _, yes in ipairs { "2001:db8::1", "2001:0DB8:ffff::", "fe80::1", "fe80:0:0:0:0:0:0:1", "::1",
                           "fe80::1%eth0", "2001:db8:abcd:13::5" } do
      assert.is_true(allowed(yes), yes)
    end
    for _, no in ipairs { "2001:db9::1", "fe80::2", "::2", "::", "2001:db8::1::2", "1.2.3.4",
                          "2001:db8:zz::1", "1:2:3:4:5:6:7:8:9" } do
      assert.is_false(allowed(no), no)
    end
    local narrow = assert(cidr.matcher { "2001:db8:abcd:12::/63" })
    assert.is_true(narrow("2001:db8:abcd:13::5"))
    assert.is_false(narrow("2001:db8:abcd:14::5"))
    local everything = assert(cidr.matcher { "0.0.0.0/0", "::/0" })
    assert.is_true(everything("203.0.113.1"))
    assert.is_true(everything("2001:db8::1"))
    -- an IPv4-mapped rule matches the plain IPv4 address too
    assert.is_true(assert(cidr.matcher { "::ffff:192.0.2.0/120" })("192.0.2.44"))
  end)

  it("bad rules are refused naming the entry", function()
    for _, c in ipairs {
      { { "192.0.2.0/33" }, "'allow'[1] (192.0.2.0/33) has a prefix length over 32" },
      { { "::/129" }, "over 128" }, { { "192.0.2.0/024" }, "bad prefix length" },
      { { "10.0.0.0", "300.1.1.1" }, "'allow'[2] (300.1.1.1) is not an IPv4 or IPv6 address" },
      { { "010.0.0.1" }, "not an IPv4" }, { { "10.1" }, "not an IPv4" }, { { "fe80::1%eth0" }, "not an IPv4" },
      { { "10.0.0.0/" }, "bad prefix" }, { {}, "non-empty list" }, { "10.0.0.0/8", "non-empty list" },
      { { 5 }, "must be a string" },
    } do
      local ok, why = cidr.matcher(c[1])
      assert.is_nil(ok)
      assert.truthy(why:find(c[2], 1, true), why)
    end
  end)
end)
