-- An HTTPS server for the TLS specs: nginx on loopback with a certificate
-- signed by a throw-away CA made with openssl for this run. It answers every
-- path with a fixed JSON document, speaks HTTP/2 and gzip, and logs the
-- protocol of each request.
--
--   local tls = require "support.tls_server"
--   local srv = tls.start()
--   srv.url ("https://localhost:PORT"), srv.ca_file, srv.ca_dir, srv.logged(line), srv.stop()
local socket = require "socket"

local _M = {}

local sys = require "support.sys"
local read, free_port = sys.read_file, sys.free_port

local function sh(cmd) return (sys.run(cmd)) end

local CONF = [[
daemon on;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 64; }
http {
  log_format proto '$server_protocol $request_method $uri $status';
  access_log %s/access.log proto;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  gzip on;
  gzip_types application/json;
  gzip_min_length 1;
  server {
    listen 127.0.0.1:%d ssl http2;
    server_name localhost;
    ssl_certificate %s/server.pem;
    ssl_certificate_key %s/server.key;
    location / {
      default_type application/json;
      return 200 '{"result":true,"id":1000,"padding":"%s"}';
    }
  }
}
]]

function _M.start()
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -p " .. dir .. "/tmp " .. dir .. "/cadir"))
  -- A CA, and a server certificate for "localhost" only (no IP in it), so
  -- that https://127.0.0.1 must fail host-name verification.
  sys.make_test_ca(dir, { { name = "server", cn = "localhost", san = "DNS:localhost" } })
  local cadir = dir .. "/cadir"
  assert(sh(("cp %s/ca.pem %s/ && openssl rehash %s"):format(dir, cadir, cadir)), "openssl rehash failed")
  local port = free_port()
  local conf = CONF:format(dir, dir, dir, dir, dir, dir, dir, dir, port, dir, dir, ("x"):rep(2000))
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  if not sh(("nginx -p %s -c %s/nginx.conf 2>%s/start.log"):format(dir, dir, dir)) then
    error("nginx did not start: " .. read(dir .. "/start.log") .. read(dir .. "/error.log"))
  end
  local deadline = socket.gettime() + 5
  while true do
    local c = socket.connect("127.0.0.1", port)
    if c then c:close(); break end
    assert(socket.gettime() < deadline, "nginx is not listening: " .. read(dir .. "/error.log"))
    socket.sleep(0.02)
  end
  local srv = { dir = dir, port = port, url = "https://localhost:" .. port,
                ip_url = "https://127.0.0.1:" .. port,
                ca_file = dir .. "/ca.pem", ca_dir = dir .. "/cadir" }
  -- nginx writes the line after the answer has left: wait for it a moment.
  function srv.logged(line)
    local until_t = socket.gettime() + 2
    repeat
      if read(dir .. "/access.log"):find(line, 1, true) then return true end
      socket.sleep(0.01)
    until socket.gettime() > until_t
    return false
  end
  function srv.access_log() return read(dir .. "/access.log") end
  function srv.error_log() return read(dir .. "/error.log") end
  function srv.stop()
    sh(("nginx -p %s -c %s/nginx.conf -s stop"):format(dir, dir))
    local until_t = socket.gettime() + 5
    while read(dir .. "/nginx.pid") ~= "" and socket.gettime() < until_t do socket.sleep(0.02) end
    sh("rm -rf " .. dir)
  end
  return srv
end

return _M
