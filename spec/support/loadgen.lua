-- A small HTTP/1.1 load generator over LuaSocket, for the webhook spec and
-- bench/webhooks.lua: `concurrency` keep-alive connections, each sending
-- the next request of a shared list as soon as its previous answer is in.
-- Answers must carry a Content-Length (nginx's always do here).
--
--   local loadgen = require "support.loadgen"
--   local results = loadgen.run { host = "127.0.0.1", port = 8080, concurrency = 16,
--     requests = { { method = "POST", path = "/hooks/x", body = "[]" }, ... } }
--   results[i] = { status = 200, seconds = 0.0008 }   -- in the order of `requests`
--
-- `seconds` is the answer time the sender sees: from the first byte of the
-- request written to the last byte of the answer read.
local socket = require "socket"

local gettime, select = socket.gettime, socket.select
local create, resume, yield, status = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status

local _M = {}

local function request_bytes(host, port, r)
  local body = r.body or ""
  local head = { (r.method or "POST") .. " " .. r.path .. " HTTP/1.1", "Host: " .. host .. ":" .. port,
                 "Content-Type: application/json", "Content-Length: " .. #body }
  for k, v in pairs(r.headers or {}) do head[#head + 1] = k .. ": " .. v end
  return table.concat(head, "\r\n") .. "\r\n\r\n" .. body
end

function _M.run(opts)
  local host, port, requests = opts.host or "127.0.0.1", opts.port, opts.requests
  local deadline = gettime() + (opts.timeout or 60)
  local results, next_index = {}, 1
  local waiting_r, waiting_w = {}, {}   -- socket -> coroutine

  local function wait(sock, set)
    set[sock] = coroutine.running()
    yield()
    if gettime() > deadline then error("loadgen: no answer before the deadline", 0) end
  end

  local function connect()
    local sock = socket.tcp()
    sock:settimeout(0)
    sock:setoption("tcp-nodelay", true)
    local ok, err = sock:connect(host, port)
    if not ok and err == "timeout" then
      wait(sock, waiting_w)
      ok, err = sock:connect(host, port)
    end
    if not ok and err ~= "already connected" then error("loadgen: cannot connect: " .. tostring(err), 0) end
    return sock
  end

  -- Reads from `sock` until `buf` holds a whole answer; returns status, rest.
  local function read_answer(sock)
    local buf = ""
    while true do
      local head_end = buf:find("\r\n\r\n", 1, true)
      if head_end then
        local length = tonumber(buf:sub(1, head_end):lower():match("\ncontent%-length:%s*(%d+)"))
        if not length then error("loadgen: an answer without Content-Length", 0) end
        if #buf >= head_end + 3 + length then
          local close = buf:sub(1, head_end):lower():find("\nconnection:%s*close") ~= nil
          return tonumber(buf:match("^HTTP/1%.%d (%d%d%d)")), close
        end
      end
      local data, err, partial = sock:receive(65536)
      data = data or partial
      if data and data ~= "" then
        buf = buf .. data
      elseif err == "timeout" then
        wait(sock, waiting_r)
      else
        return nil, err
      end
    end
  end

  local function lane()
    local sock
    while next_index <= #requests do
      local i = next_index
      next_index = i + 1
      for attempt = 1, 2 do
        sock = sock or connect()
        local bytes = request_bytes(host, port, requests[i])
        local t0 = gettime()
        local pos, failed = 1, false
        while pos <= #bytes do
          local last, err, partial = sock:send(bytes, pos)
          if last then pos = last + 1
          elseif err == "timeout" then pos = partial + 1; wait(sock, waiting_w)
          else failed = true; break end
        end
        local code, close
        if not failed then code, close = read_answer(sock) end
        if code then
          results[i] = { status = code, seconds = gettime() - t0 }
          if close then sock:close(); sock = nil end
          break
        end
        -- The server closed a kept-alive connection: once more on a new one.
        sock:close()
        sock = nil
        if attempt == 2 then results[i] = { status = 0, seconds = gettime() - t0, error = tostring(close) } end
      end
    end
    if sock then sock:close() end
  end

  local lanes = {}
  for n = 1, opts.concurrency or 8 do lanes[n] = create(lane) end
  local function step(co)
    local ok, err = resume(co)
    if not ok then error(err, 0) end
  end
  for _, co in ipairs(lanes) do step(co) end
  while true do
    local alive = false
    for _, co in ipairs(lanes) do if status(co) ~= "dead" then alive = true end end
    if not alive then break end
    local rlist, wlist = {}, {}
    for s in pairs(waiting_r) do rlist[#rlist + 1] = s end
    for s in pairs(waiting_w) do wlist[#wlist + 1] = s end
    local readable, writable = select(rlist, wlist, 1)
    for _, s in ipairs(readable) do
      local co = waiting_r[s]; waiting_r[s] = nil
      if co then step(co) end
    end
    for _, s in ipairs(writable) do
      local co = waiting_w[s]; waiting_w[s] = nil
      if co then step(co) end
    end
    if gettime() > deadline then
      -- wake everyone up: each raises "no answer before the deadline"
      for s, co in pairs(waiting_r) do waiting_r[s] = nil; step(co) end
      for s, co in pairs(waiting_w) do waiting_w[s] = nil; step(co) end
    end
  end
  return results
end

return _M
