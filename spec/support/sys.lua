-- Small OS helpers the server-process helpers of the specs share: quoting,
-- files, shell commands, a free loopback port, and a throw-away CA.
local socket = require "socket"

local _M = {}

function _M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- The file's text, or "" when it cannot be read.
function _M.read_file(name)
  local f = io.open(name)
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

function _M.write_file(name, text)
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
end

function _M.exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

--- Runs a shell command; returns true, or false and its output.
function _M.run(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1")
  local out = p:read("*a")
  local ok = p:close()
  return ok and true or false, out
end

--- Runs `<lua> bin/sendpulse <args>` with no environment but PATH, `env`'s
-- variables and `extra`'s (false there removes one of env's), stdin
-- /dev/null, killed after `seconds` (a blocked command is a failure, not a
-- hung suite). Returns its stdout, its stderr and its exit code.
function _M.run_cli(lua, args, env, extra, seconds)
  local q = _M.shell_quote
  local vars = {}
  for k, v in pairs(env or {}) do vars[k] = v end
  for k, v in pairs(extra or {}) do vars[k] = v or nil end
  local words = { "env -i", "PATH=" .. q(os.getenv("PATH")) }
  for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. q(v) end
  local out, err = os.tmpname(), os.tmpname()
  local p = io.popen(table.concat(words, " ") .. " timeout -s KILL " .. seconds .. " " .. lua .. " bin/sendpulse "
    .. args .. " >" .. out .. " 2>" .. err .. " </dev/null; echo $?")
  local rc = tonumber(p:read("*a"))
  p:close()
  local o, e = _M.read_file(out), _M.read_file(err)
  os.remove(out)
  os.remove(err)
  return o, e, rc
end

--- `n` (default 1) different ports nothing listens on right now: each is
-- bound to 0 and read, and all are let go only once all are chosen. One at
-- a time, the kernel may hand out a port it just took back: nginx was once
-- given one port for a plain and a TLS server, and refused to start.
function _M.free_ports(n)
  local held, ports = {}, {}
  for i = 1, n or 1 do
    held[i] = assert(socket.bind("127.0.0.1", 0))
    local _, port = held[i]:getsockname()
    ports[i] = tonumber(port)
  end
  for _, s in ipairs(held) do s:close() end
  return (table.unpack or unpack)(ports)   -- (Lua 5.1 and LuaJIT: unpack)
end

--- One port nothing listens on right now.
function _M.free_port()
  return (_M.free_ports(1))
end

--- Makes dir/ca.key + dir/ca.pem (a test CA) and, for each
-- { name =, cn =, san = } of certs, dir/<name>.key + dir/<name>.pem signed
-- by that CA (EC keys: quick to make). Raises with openssl's output.
function _M.make_test_ca(dir, certs)
  local q = function(name) return _M.shell_quote(dir .. "/" .. name) end
  local key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local cmds = {
    "openssl req -x509 " .. key .. " -days 2 -subj /CN=sendpulse-test-ca -keyout " .. q("ca.key") ..
      " -out " .. q("ca.pem"),
  }
  for _, c in ipairs(certs) do
    cmds[#cmds + 1] = "openssl req " .. key .. " -subj /CN=" .. c.cn .. " -keyout " .. q(c.name .. ".key") ..
      " -out " .. q(c.name .. ".csr")
    cmds[#cmds + 1] = "printf 'subjectAltName=" .. c.san .. "\\nbasicConstraints=CA:FALSE\\n' > "
      .. q(c.name .. ".ext")
    cmds[#cmds + 1] = "openssl x509 -req -days 2 -in " .. q(c.name .. ".csr") .. " -CA " .. q("ca.pem") ..
      " -CAkey " .. q("ca.key") .. " -CAcreateserial -extfile " .. q(c.name .. ".ext") ..
      " -out " .. q(c.name .. ".pem")
  end
  for _, c in ipairs(cmds) do
    local ok, out = _M.run(c)
    if not ok then error("making test certificates failed: " .. c .. "\n" .. out, 2) end
  end
end

return _M
