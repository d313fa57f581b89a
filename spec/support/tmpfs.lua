-- A small tmpfs for the full-disk specs (docs/security.md, "a full disk"):
-- mounted over a new folder in /tmp, filled to the last byte on demand,
-- unmounted and removed at the end. Mounting needs root (CI runs as root);
-- otherwise mount() says why, and the specs mark their tests pending.
--
--   local tmpfs = require "support.tmpfs"
--   local fs, why = tmpfs.mount("256k")
--   fs.path
--   fs:fill()      -- a file takes every byte left (writes end with ENOSPC)
--   fs:free()      -- that file removed
--   fs:unmount()   -- also removes the folder
local sys = require "support.sys"
local neighbour = require "support.neighbour"

local q, run = sys.shell_quote, neighbour.run

local _M = {}

local Tmpfs = {}
Tmpfs.__index = Tmpfs

--- Mounts a tmpfs of `size` (mount's syntax: "256k"); the object, or nil
--- and why not.
function _M.mount(size)
  local p = os.tmpname()
  os.remove(p)
  local ok, out = run("mkdir " .. q(p) .. " && mount -t tmpfs -o size=" .. size .. ",mode=0755 sp-test "
    .. q(p))
  if not ok then
    run("rmdir " .. q(p))
    return nil, "cannot mount a tmpfs (needs root): " .. out:gsub("%s+$", "")
  end
  return setmetatable({ path = p }, Tmpfs)
end

function Tmpfs:fill()
  -- dd stops at the first failed write: "No space left on device"
  run("dd if=/dev/zero of=" .. q(self.path .. "/fill") .. " bs=4096")
  local f = io.open(self.path .. "/probe", "w")
  local ok = f and f:write(string.rep("x", 8192)) and f:flush()
  if f then f:close() end
  os.remove(self.path .. "/probe")
  assert(not ok, "the tmpfs still takes writes after fill()")
end

function Tmpfs:free()
  os.remove(self.path .. "/fill")
end

function Tmpfs:unmount()
  run("umount " .. q(self.path))
  run("rmdir " .. q(self.path))
end

return _M
