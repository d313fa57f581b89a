-- The nginx.conf of docs/nginx.md, run as written:
-- only the install paths, the listening port and the API's URL (the
-- sandbox instead of api.sendpulse.com) are changed, and nginx's own
-- pid/error log/daemon lines are added for a temporary prefix.
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local socket = require "socket"
local docs = require "support.docs"

-- GET over HTTP/1.0: nginx then ends the answer by closing, whatever the
-- location prints (the doc's locations do not set a length).
local function get10(port, path)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(10)
  assert(c:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
  local all = c:receive("*a")
  c:close()
  local status = tonumber(all:match("^HTTP/1%.%d (%d%d%d)"))
  return status, all:match("\r\n\r\n(.*)$")
end

local function doc_conf()
  local confs = docs.file_blocks("docs/nginx.md", "nginx")
  assert.equal(1, #confs, "docs/nginx.md should have one ```nginx block")
  return confs[1]
end

describe("docs/nginx.md's nginx.conf #nginx", function()
  local sb, ng

  lazy_teardown(function()
    if ng then ng:stop() end
    if sb then sb:stop() end
  end)

  it("sends the SMTP email of /welcome and the timer's call of /logged to the sandbox", function()
    sb = sandbox.start {}
    sb:configure { accounts = { { client_id = "nginx-doc-id", client_secret = "nginx-doc-secret" } } }
    local conf, n = doc_conf()
    local function sub(pattern, repl)
      conf, n = conf:gsub(pattern, repl)
      assert(n >= 1, "docs/nginx.md's nginx.conf no longer has " .. pattern)
    end
    sub('lua_package_path%s+"[^"]*";', 'lua_package_path "${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;;";')
    sub('lua_package_cpath%s+"[^"]*";', 'lua_package_cpath "${ROOT}/build/luajit/?.so;;";')
    sub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:${PORT};")
    sub('shared_dict = "sendpulse",', 'shared_dict = "sendpulse", base_url = "${SANDBOX_URL}",')
    conf = "${USER_LINE}\ndaemon on;\npid ${PREFIX}/nginx.pid;\nerror_log ${PREFIX}/error.log info;\n" .. conf
    ng = nginx_process.start { template = conf, sandbox_url = sb.url,
      env = { SENDPULSE_CLIENT_ID = "nginx-doc-id", SENDPULSE_CLIENT_SECRET = "nginx-doc-secret" } }

    -- The email reaches the sandbox's SMTP outbox as SendPulse would take it.
    local status, body = get10(ng.port, "/welcome?to=bob@example.com")
    assert.equal(200, status, ng:log())
    local answer = require("cjson").decode(body)
    assert.is_true(answer.result)
    local sent = sb:control("GET", "/_sandbox/smtp/" .. answer.id)
    assert.equal("<p>Welcome aboard!</p>", sent.html)
    assert.equal("bob@example.com", sent.recipient)
    local stats = sb:stats()
    assert.equal(1, stats.token_requests)

    -- /logged answers, then its log phase hands the call to a timer.
    assert.equal(200, ng:get("/logged").status)
    local deadline = socket.gettime() + 5
    local listed
    repeat
      socket.sleep(0.05)
      for _, r in ipairs(sb:stats().requests) do
        if r.method == "GET" and r.path == "/addressbooks" and r.status == 200 then listed = true end
      end
    until listed or socket.gettime() > deadline
    assert.is_true(listed, "the timer's call never reached the sandbox:\n" .. ng:log())
    assert.is_nil(ng:log():find("nginx-doc-secret", 1, true))
  end)
end)
