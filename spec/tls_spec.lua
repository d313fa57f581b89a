-- TLS: verification always on, a private CA by file or folder, HTTP/2 and
-- compressed answers, against a real nginx over loopback.
local sendpulse = require "sendpulse"
local tls = require "support.tls_server"

describe("TLS", function()
  local srv

  lazy_setup(function() srv = tls.start() end)
  lazy_teardown(function() if srv then srv.stop() end end)

  local function client(extra)
    local opts = { api_key = "tls-test-key", base_url = srv.url, rate_limit = false, retries = 2,
                   sleep = function() end }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return sendpulse.new(opts)
  end

  it("trusts a private CA given as a file, and talks HTTP/2 with gzip", function()
    local c = client { ca_file = srv.ca_file }
    local v, meta = c:request("GET", "/ping")
    assert.equal(1000, v.id)
    assert.equal(2000, #v.padding)
    assert.equal("gzip", meta.headers["content-encoding"])
    assert.is_true(srv.logged("HTTP/2.0 GET /ping 200"), srv.access_log())
    c:close()
  end)

  it("trusts a private CA given as a hashed folder", function()
    local c = client { ca_path = srv.ca_dir }
    local v = c:request("GET", "/folder")
    assert.is_true(v.result)
    c:close()
  end)

  it("refuses a certificate from an unknown CA, without retrying", function()
    local c = client {}
    local ok, err = pcall(c.request, c, "GET", "/untrusted")
    assert.is_false(ok)
    assert.equal("network", err.kind)
    assert.is_true(err.tls)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
    assert.matches("certificate", err.message)
    c:close()
  end)

  it("refuses a certificate for another host name", function()
    local c = client { ca_file = srv.ca_file, base_url = srv.ip_url }
    local ok, err = pcall(c.request, c, "GET", "/wrong-name")
    assert.is_false(ok)
    assert.is_true(err.tls)
    assert.matches("127.0.0.1", err.message)
    c:close()
  end)

  it("can be told to stay on HTTP/1.1", function()
    local c = client { ca_file = srv.ca_file, http2 = false }
    c:request("GET", "/h1")
    assert.is_true(srv.logged("HTTP/1.1 GET /h1 200"), srv.access_log())
    c:close()
  end)
end)
