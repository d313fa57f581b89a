-- Another user on the same machine, for the specs of docs/security.md's
-- "another user on the same machine": a throw-away system user,
-- sp-neighbour, made when missing, and commands run as that user through
-- runuser, so every file the neighbour plants is made by the neighbour's
-- own process. Both need root (CI runs as root on a fresh Debian machine);
-- otherwise get() says why, and the specs mark their tests pending.
--
--   local neighbour = require "support.neighbour"
--   local n, why = neighbour.get()
--   n.uid, n.name
--   n:run("printf x > /tmp/shared/f")        -- as the neighbour: ok, output
--   neighbour.run("cmd")                     -- as this user: ok, output (on every Lua)
--   local job = n:start(script, args...)     -- perl script in the background,
--   job:stop()                               -- until stop: its output
--   neighbour.shared_folder()                -- a new 0777 folder in /tmp
--
-- The user is left in place for the next run (deleting it while another run
-- of the suite uses it would break that run); it has no home, no shell and
-- no password.
local sys = require "support.sys"

local q = sys.shell_quote

local _M = {}

_M.NAME = "sp-neighbour"

local Neighbour = {}
Neighbour.__index = Neighbour

-- Runs a shell command; returns whether it exited 0, and its output. (Lua
-- 5.1 and LuaJIT do not say how a popen'ed command exited: its status is
-- printed and read back.)
local function run(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local body, code = out:match("^(.-)exit=(%d+)\n?$")
  return code == "0", body or out
end
_M.run = run

-- The uid of a user (nil: no such user), or this process's.
local function uid_of(name)
  local p = io.popen("id -u " .. (name and q(name) or "") .. " 2>/dev/null")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("^(%d+)"))
end

--- Whether this process is root (what the mounts and the second user need).
function _M.is_root() return uid_of(nil) == 0 end

--- The neighbour, or nil and why it cannot be had.
function _M.get()
  if not _M.is_root() then return nil, "needs root (to add a user and run commands as that user with runuser)" end
  if not uid_of(_M.NAME) then
    local ok, out = run("useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "
      .. _M.NAME)
    if not ok and not uid_of(_M.NAME) then return nil, "useradd failed: " .. out end
  end
  if not run("command -v runuser") then return nil, "runuser (util-linux) is missing" end
  if not run("command -v perl") then return nil, "perl is missing" end
  return setmetatable({ name = _M.NAME, uid = uid_of(_M.NAME) }, Neighbour)
end

--- Runs a shell command as the neighbour; returns ok, output.
function Neighbour:run(cmd)
  return run("runuser -u " .. self.name .. " -- sh -c " .. q(cmd))
end

local Job = {}
Job.__index = Job

--- Runs a perl script as the neighbour in the background until job:stop().
-- The script gets the stop file's path as its first argument (then args)
-- and must end soon after the file appears; start returns once the script
-- has printed its first line (so the attack runs before the test reads),
-- and what it prints after that is stop()'s.
function Neighbour:start(script, ...)
  local stop = os.tmpname()
  os.remove(stop)
  local words = { "runuser -u", self.name, "-- perl -e", q("$| = 1; " .. script), q(stop) }
  for _, a in ipairs { ... } do words[#words + 1] = q(a) end
  local p = assert(io.popen(table.concat(words, " ") .. " 2>&1"))
  local first = p:read("*l")
  return setmetatable({ pipe = p, stop_file = stop, first = first }, Job)
end

function Job:stop()
  sys.write_file(self.stop_file, "")
  local out = self.pipe:read("*a")
  self.pipe:close()
  os.remove(self.stop_file)
  return out
end

--- A new folder in /tmp that everyone may write (0777, not sticky: the
-- worst case, where anyone may also rename and delete what is in it).
function _M.shared_folder()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir " .. q(p) .. " && chmod 0777 " .. q(p)))
  return p
end

return _M
