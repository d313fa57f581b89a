-- The nginx.conf of docs/nginx.md, run the way its "Trying it" paragraph
-- says: under nginx -p <a temporary folder>, with only the changes the page
-- names (the two lua_package_* paths to this checkout, the port of listen),
-- nginx's own files and the workers' user given with -g as the page gives
-- them, and the sandbox's URL and credentials in nginx's environment (the
-- config's env lines and os.getenv carry them to the workers). Also: what
-- the page says of its load_module lines and Debian's own nginx.conf.
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local socket = require "socket"
local docs = require "support.docs"
local sys = require "support.sys"

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

  -- The page's -g, with $(id -un) as its shell would expand it.
  local function page_globals()
    local page = sys.read_file("docs/nginx.md")
    local g = page:match('nginx %-p "%$PWD" %-c nginx%.conf %-e error%.log %-g "([^"]*)"')
    assert(g, "docs/nginx.md no longer shows how it starts nginx")
    return (g:gsub("%$%(id %-un%)", io.popen("id -un"):read("*l")))
  end

  it("sends the SMTP email of /welcome and the timer's call of /logged to the sandbox", function()
    sb = sandbox.start {}
    sb:configure { accounts = { { client_id = "nginx-doc-id", client_secret = "nginx-doc-secret" } } }
    local conf, n = doc_conf()
    local function sub(pattern, repl)
      conf, n = conf:gsub(pattern, repl)
      assert(n == 1, "docs/nginx.md's nginx.conf no longer has one " .. pattern)
    end
    -- the changes "Trying it" names, and no other
    sub('lua_package_path%s+"[^"]*";', 'lua_package_path "${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;;";')
    sub('lua_package_cpath%s+"[^"]*";', 'lua_package_cpath "${ROOT}/build/luajit/?.so;;";')
    sub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:${PORT};")
    ng = nginx_process.start { template = conf, globals = page_globals(), sandbox_url = sb.url,
      env = { SENDPULSE_CLIENT_ID = "nginx-doc-id", SENDPULSE_CLIENT_SECRET = "nginx-doc-secret",
              SENDPULSE_BASE_URL = sb.url } }

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

  it("says why its load_module lines go when Debian's nginx.conf already loads the modules", function()
    local page = sys.read_file("docs/nginx.md")
    local said = 'module "ndk_http_module" is already loaded'
    assert.matches("`" .. said .. "`", page, 1, true)
    assert.matches("include /etc/nginx/modules-enabled/*.conf;", page, 1, true)
    -- Debian's nginx.conf loads them so (its first lines), and so do these files
    assert.matches("\ninclude /etc/nginx/modules-enabled/*.conf;\n", sys.read_file("/etc/nginx/nginx.conf"), 1, true)
    local dir = io.popen("mktemp -d"):read("*l")
    -- Debian's files say modules/..., relative to the prefix
    assert(sys.run("ln -s /usr/lib/nginx/modules " .. sys.shell_quote(dir .. "/modules")))
    local function test(conf)
      sys.write_file(dir .. "/nginx.conf", "include /etc/nginx/modules-enabled/*.conf;\n" .. conf)
      return sys.run(("%s -t -q -p %s -c nginx.conf -e error.log -g %s"):format(nginx_process.NGINX,
        sys.shell_quote(dir), sys.shell_quote("pid nginx.pid; error_log error.log;")))
    end
    local ok, out = test(doc_conf())
    assert.is_false(ok, "nginx took the modules twice")
    assert.matches(said, out, 1, true)
    -- without the two lines, as the page says, the same file is fine
    local without, n = doc_conf():gsub("\nload_module [^\n]*", "")
    assert.equal(2, n)
    ok, out = test(without)
    assert(ok, out)
    os.execute("rm -rf " .. sys.shell_quote(dir))
  end)
end)
