-- Counts the copies of strings in another process's writable memory (its
-- heap, anonymous mappings and the data of its libraries; not its stack,
-- where its environment lives), by reading /proc/PID/mem. The process must
-- be a child of this one (ptrace access rules).
--
--   local memscan = require "support.memscan"
--   memscan.count(pid, { secret = "...", token = "..." }) -> { secret = n, token = n }
local _M = {}

local CHUNK = 1048576
local SKIP = { ["[stack]"] = true, ["[vvar]"] = true, ["[vsyscall]"] = true, ["[vdso]"] = true }

function _M.count(pid, needles)
  local counts, longest = {}, 0
  for name, needle in pairs(needles) do
    counts[name] = 0
    if #needle > longest then longest = #needle end
  end
  local mem = assert(io.open("/proc/" .. pid .. "/mem", "rb"))
  for line in io.lines("/proc/" .. pid .. "/maps") do
    local from, to, perms, path = line:match("^(%x+)%-(%x+) (%S+) %S+ %S+ %S+%s*(.*)$")
    if perms and perms:sub(1, 2) == "rw" and not SKIP[path] then
      local pos, stop, carry = tonumber(from, 16), tonumber(to, 16), ""
      while pos < stop do
        local n = math.min(CHUNK, stop - pos)
        local data = mem:seek("set", pos) and mem:read(n)
        if not data then break end
        -- carry: the end of the previous chunk, so a copy across the cut
        -- is found (once: only matches that end in the new chunk count)
        local text = carry .. data
        for name, needle in pairs(needles) do
          local i = 1
          while true do
            local s, e = text:find(needle, i, true)
            if not s then break end
            if e > #carry then counts[name] = counts[name] + 1 end
            i = s + 1
          end
        end
        carry = text:sub(-(longest - 1))
        pos = pos + n
      end
    end
  end
  mem:close()
  return counts
end

return _M
