-- The cosocket transport's answer parser (sendpulse.transport.http1), fed
-- bytes directly: whole answers, answers split at every byte, and the
-- framing a hostile server uses. Its transport is tested over real sockets
-- inside nginx in spec/hostile_spec.lua.
local http1 = require "sendpulse.transport.http1"
local core = require "sendpulse.core"

-- Feeds `text` in pieces of `step` bytes (all at once without); then the
-- close when `eof`. Returns the parser and what the last call returned.
local function parse(text, opts, step, eof)
  opts = opts or {}
  local p = http1.parser { method = opts.method or "GET", max_body = opts.max_body }
  local a, b, c
  step = step or #text
  if text == "" then a, b, c = p:feed("") end
  for i = 1, #text, step do
    a, b, c = p:feed(text:sub(i, i + step - 1))
    if a ~= "more" then break end
  end
  if eof and a == "more" then a, b, c = p:close() end
  return p, a, b, c
end

local function answer(head, body)
  return "HTTP/1.1 200 OK\r\n" .. head .. "\r\n" .. (body or "")
end

describe("sendpulse.transport.http1", function()
  it("reads a Content-Length answer, whole or one byte at a time", function()
    local text = answer("Content-Type: application/json\r\nContent-Length: 7\r\nX-A: 1\r\nx-a: 2\r\n", '{"a":1}')
    for _, step in ipairs { #text, 1, 2, 7 } do
      local p, state = parse(text, nil, step)
      assert.equal("done", state)
      assert.equal(200, p.status)
      assert.equal('{"a":1}', p:body())
      assert.same({ ["content-type"] = "application/json", ["content-length"] = "7", ["x-a"] = "1, 2" }, p.headers)
      assert.is_true(p.keep_alive)
      assert.is_nil(p.extra)
    end
  end)

  it("reads chunked answers with extensions and trailers, in any split", function()
    local text = answer("Transfer-Encoding: chunked\r\n", "3;ext=1\r\nabc\r\n00A \r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n")
    for step = 1, 5 do
      local p, state = parse(text, nil, step)
      assert.equal("done", state)
      assert.equal("abc0123456789", p:body())
    end
  end)

  it("reads an answer that ends when the connection closes, and HEAD / 204 / 304 without a body", function()
    local p, state = parse("HTTP/1.1 200 OK\r\n\r\nuntil the end", nil, 3, true)
    assert.equal("done", state)
    assert.equal("until the end", p:body())
    assert.is_false(p.keep_alive)
    p, state = parse(answer("Content-Length: 10\r\n"), { method = "HEAD" })
    assert.equal("done", state)
    assert.equal("", p:body())
    local _
    _, state = parse("HTTP/1.1 204 No Content\r\n\r\n")
    assert.equal("done", state)
  end)

  it("skips 1xx answers", function()
    local text = "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n" .. answer("Content-Length: 2\r\n", "{}")
    local p, state = parse(text, nil, 4)
    assert.equal("done", state)
    assert.equal(200, p.status)
    assert.is_nil(p.headers["x-early"])
  end)

  it("keeps HTTP/1.0 connections only when asked, and 1.1 ones unless told to close", function()
    local p = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert.is_false(p.keep_alive)
    p = parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
    assert.is_true(p.keep_alive)
    p = parse(answer("Connection: keep-alive, Close\r\nContent-Length: 0\r\n"))
    assert.is_false(p.keep_alive)
  end)

  it("marks bytes after the answer, so the connection is not reused", function()
    local p, state = parse(answer("Content-Length: 2\r\n", '{}HTTP/1.1 200 OK\r\n'))
    assert.equal("done", state)
    assert.equal("{}", p:body())
    assert.equal("HTTP/1.1 200 OK\r\n", p.extra)
    assert.is_false(p.keep_alive)
    -- and bytes that come in a later read
    p, state = parse(answer("Content-Length: 2\r\n", "{}"))
    assert.equal("done", state)
    assert.is_true(p.keep_alive)
    assert.equal("done", p:feed("late"))
    assert.is_false(p.keep_alive)
    assert.equal("late", p.extra)
  end)

  it("parses Content-Length strictly", function()
    for _, bad in ipairs { "0x2", "-1", "+2", "2 2", "", "2a", "1e3" } do
      local p, state, kind, msg = parse(answer("Content-Length: " .. bad .. "\r\n", "{}"))
      assert.is_nil(state, bad)
      assert.equal("protocol", kind, bad)
      assert.matches("Content%-Length", msg)
      assert.equal("failed", p.state)
    end
    local _, state, kind = parse(answer("Content-Length: 2\r\nContent-Length: 3\r\n", "{}"))
    assert.is_nil(state)
    assert.equal("protocol", kind)
    local p
    p, state = parse(answer("Content-Length: 2\r\nContent-Length: 2\r\n", "{}"))
    assert.equal("done", state)
    assert.equal("{}", p:body())
  end)

  it("parses chunk sizes strictly, and never raises", function()
    for _, bad in ipairs { "0x10", "-1", "zz", "", "1 0", "+5", " 5", "5;;=x\1", "5 x" } do
      local _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", bad .. "\r\nabcde\r\n0\r\n\r\n"))
      if bad == "5;;=x\1" then
        assert.equal("done", state, "an extension is skipped whatever it holds")
      else
        assert.is_nil(state, bad)
        assert.equal("protocol", kind, bad)
      end
    end
    local _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", "3\r\nabcX\r\n0\r\n\r\n"))
    assert.is_nil(state)
    assert.equal("protocol", kind)
    _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", string.rep("1", 5000)))
    assert.is_nil(state)
    assert.equal("protocol", kind)
  end)

  it("refuses bodies over max_body: by Content-Length, by chunk size, and as they arrive", function()
    local _, state, kind, msg = parse(answer("Content-Length: 1073741824\r\n", "x"), { max_body = 1000 })
    assert.is_nil(state)
    assert.equal("too_large", kind)
    assert.matches("max_answer_size %(1000 bytes%): its Content%-Length says 1073741824", msg)
    -- more digits than a double holds exactly (found by spec/fuzz: the
    -- message's %d raised on math.huge)
    _, state, kind, msg = parse(answer("Content-Length: 123456789012345678901234\r\n", "x"))
    assert.is_nil(state)
    assert.equal("too_large", kind)
    assert.matches("says 123456789012345678901234", msg)
    for _, size in ipairs { "FFFFFFFFFFFFFFFFFF", "7FFFFFFF", "3E9" } do
      _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", size .. "\r\nxx"), { max_body = 1000 })
      assert.is_nil(state)
      assert.equal("too_large", kind, size)
    end
    _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", "3E8\r\n" .. string.rep("x", 1000)
      .. "\r\n1\r\nx\r\n0\r\n\r\n"), { max_body = 1000 })
    assert.is_nil(state)
    assert.equal("too_large", kind)
    local p = http1.parser { max_body = 1000 }
    assert.equal("more", p:feed("HTTP/1.1 200 OK\r\n\r\n"))
    for _ = 1, 9 do assert.equal("more", p:feed(string.rep("x", 100))) end
    state, kind = p:feed(string.rep("x", 101))
    assert.is_nil(state)
    assert.equal("too_large", kind)
    assert.is_nil(p:feed("more"), "a failed parser stays failed")
  end)

  it("bounds the header block by core.limits, trailers included", function()
    local lines = {}
    for i = 1, core.limits.header_lines do lines[i] = "X-H: 1\r\n" end
    local _, state, kind, msg = parse(answer(table.concat(lines), "{}"))
    assert.is_nil(state)
    assert.equal("too_large", kind)
    assert.matches("more than " .. core.limits.header_lines .. " header lines", msg)
    _, state, kind, msg = parse(answer("X-Big: " .. string.rep("b", core.limits.header_bytes) .. "\r\n"), nil, 1000)
    assert.is_nil(state)
    assert.equal("too_large", kind)
    assert.matches("larger than " .. core.limits.header_bytes .. " bytes", msg)
    -- a line that never ends is refused once it passes the bound
    local p = http1.parser {}
    assert.equal("more", p:feed("HTTP/1.1 200 OK\r\nX-Drip: "))
    for _ = 1, 64 do
      state, kind = p:feed(string.rep("a", 1024))
      if state ~= "more" then break end
    end
    assert.equal("too_large", kind)
    lines = {}
    for i = 1, core.limits.header_lines do lines[i] = "T: 1\r\n" end
    _, state, kind = parse(answer("Transfer-Encoding: chunked\r\n", "0\r\n" .. table.concat(lines) .. "\r\n"))
    assert.is_nil(state)
    assert.equal("too_large", kind)
  end)

  it("refuses what is not HTTP/1.x", function()
    for _, bad in ipairs { "HTTP/1.1 2OO OK\r\n\r\n", "HTTP/2 200\r\n\r\n", "SSH-2.0-OpenSSH\r\n",
                           "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n" } do
      local _, state, kind = parse(bad)
      assert.is_nil(state, bad)
      assert.equal("protocol", kind, bad)
    end
  end)

  it("tells an answer cut short from one that never started", function()
    local p = http1.parser {}
    local state, kind, msg = p:close()
    assert.is_nil(state)
    assert.equal("network", kind)
    assert.matches("before any answer", msg)
    local _, _, kind2, msg2 = parse(answer("Content-Length: 10\r\n", "abc"), nil, nil, true)
    assert.equal("network", kind2)
    assert.matches("middle of the answer", msg2)
  end)
end)
