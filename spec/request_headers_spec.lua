-- What the libcurl transport puts on the wire besides the caller's headers:
-- its User-Agent and Accept-Encoding lines (given to libcurl ready-made, see
-- csrc/sp_http_lua.c), each exactly once, and the caller's own line instead when
-- they give one. Against a real server on loopback that echoes the request.
local sendpulse = require "sendpulse"
local echo_server = require "support.echo_server"

-- The header lines named `name` (any case) in the echoed request.
local function named(answer, name)
  local found = {}
  for _, line in ipairs(answer.lines) do
    if line:lower():sub(1, #name + 1) == name:lower() .. ":" then found[#found + 1] = line end
  end
  return found
end

describe("request headers of the curl transport", function()
  local echo, client
  setup(function()
    echo = echo_server.start()
    client = sendpulse.new { api_key = "echo-key", base_url = echo.url, rate_limit = false,
                             retries = 0, user_agent = "spec-agent/1.0" }
  end)
  teardown(function()
    if client then client:close() end
    if echo then echo:stop() end
  end)

  it("sends the user agent and the accepted encodings once each", function()
    for _ = 1, 2 do   -- the second call reuses the header list built for the first
      local answer = client:request("GET", "/a")
      assert.same({ "User-Agent: spec-agent/1.0" }, named(answer, "User-Agent"))
      local ae = named(answer, "Accept-Encoding")
      assert.is_true(#ae <= 1)
      if #ae == 1 then assert.matches("^Accept%-Encoding: %a", ae[1]) end
      assert.same({ "Authorization: Bearer echo-key" }, named(answer, "Authorization"))
    end
  end)

  it("sends the caller's User-Agent and Accept-Encoding instead of its own", function()
    local answer = client:request("GET", "/b",
      { headers = { ["user-agent"] = "mine/2", ["Accept-Encoding"] = "identity" } })
    assert.same({ "user-agent: mine/2" }, named(answer, "User-Agent"))
    assert.same({ "Accept-Encoding: identity" }, named(answer, "Accept-Encoding"))
    -- and its own again on the next plain call
    answer = client:request("GET", "/c")
    assert.same({ "User-Agent: spec-agent/1.0" }, named(answer, "User-Agent"))
  end)

  it("sends each path under its own URL, also past the client's URL cache", function()
    -- The client remembers 64 checked paths, then starts over.
    for i = 1, 70 do
      assert.equal("GET /p" .. i .. " HTTP/1.1", client:request("GET", "/p" .. i).lines[1])
    end
    assert.equal("GET /p1 HTTP/1.1", client:request("GET", "/p1").lines[1])
    assert.equal("GET /p70?x=1 HTTP/1.1", client:request("GET", "/p70", { query = { x = 1 } }).lines[1])
    for _ = 1, 2 do   -- a refused path is never remembered as good
      local ok, err = pcall(client.request, client, "GET", "/a b")
      assert.is_false(ok)
      assert.matches("argument 'path'", tostring(err))
    end
  end)

  it("rebuilds the header list when a header changes", function()
    local a = client:request("GET", "/d", { headers = { ["X-Trace"] = "one" } })
    local b = client:request("GET", "/d", { headers = { ["X-Trace"] = "two" } })
    assert.same({ "X-Trace: one" }, named(a, "X-Trace"))
    assert.same({ "X-Trace: two" }, named(b, "X-Trace"))
  end)
end)
