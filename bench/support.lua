--- What every bench script shares: running a child and reading its figures,
-- medians, callgrind instruction counts, a private nginx, table printing.
--
-- Figures travel from a child process to the script as one line
-- "key=value key=value ...", so every driver (C or Lua) is measured the same
-- way: inside the process, around its loop only (start-up excluded).

local socket = require "socket"

local format, concat = string.format, table.concat

local _M = {}

-- bench/ of this checkout, and the checkout itself.
_M.DIR = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".")
_M.ROOT = _M.DIR .. "/.."
_M.LUA = os.getenv("LUA") or "lua5.4"
_M.LUA_IMPL = os.getenv("LUA_IMPL") or "lua5.4"
-- Runs per figure; the median is reported. BENCH_RUNS overrides.
_M.RUNS = tonumber(os.getenv("BENCH_RUNS")) or 5

function _M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The environment a Lua child needs to find the sources and the C core:
-- those of this checkout, or of `root`, another one, built (the bench's
-- own helpers always come from this one).
function _M.lua_env(root)
  root = root or _M.ROOT
  return format("LUA_PATH=%s LUA_CPATH=%s",
    _M.quote(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. _M.DIR .. "/?.lua;;"),
    _M.quote(root .. "/build/" .. _M.LUA_IMPL .. "/?.so;;"))
end

--- Runs a shell command; returns its stdout, or raises with its output.
function _M.run(cmd)
  local errfile = os.tmpname()
  local pipe = assert(io.popen(cmd .. " 2>" .. errfile, "r"))
  local out = pipe:read("*a")
  local ok, _, code = pipe:close()
  local f = io.open(errfile)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(errfile)
  if not ok then
    error(format("command failed (%s): %s\n%s%s", tostring(code), cmd, out, err), 2)
  end
  return out, err
end

--- The last "key=value ..." line of `text` as a table (numbers converted).
function _M.figures(text)
  local line
  for l in text:gmatch("[^\n]+") do
    if l:find("^%w+=") then line = l end
  end
  if not line then error("no figures in the output:\n" .. text, 2) end
  local t = {}
  for k, v in line:gmatch("(%w+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

function _M.median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

--- Runs `cmd` RUNS times; returns the median of each figure, and the runs.
function _M.median_of_runs(cmd, runs)
  local all = {}
  for i = 1, runs or _M.RUNS do all[i] = _M.figures(_M.run(cmd)) end
  local med = {}
  for k, v in pairs(all[1]) do
    if type(v) == "number" then
      local col = {}
      for i = 1, #all do col[i] = all[i][k] end
      med[k] = _M.median(col)
    end
  end
  return med, all
end

--- Instructions executed by `cmd` (a program and its arguments; `env`, any
-- VAR=value assignments, go before valgrind so that callgrind measures the
-- program itself), counted by callgrind: the "summary"/"totals" line of its
-- output file.
function _M.instructions(cmd, env)
  local out = os.tmpname()
  _M.run(format("%s valgrind --tool=callgrind --callgrind-out-file=%s %s >/dev/null",
    env or "", _M.quote(out), cmd))
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  os.remove(out)
  local ir = text:match("\nsummary:%s*(%d+)") or text:match("\ntotals:%s*(%d+)")
  if not ir then error("no instruction count in callgrind's output for " .. cmd) end
  return tonumber(ir)
end

--- Instructions per call of a driver taking its call count through
-- make_cmd(n) -> cmd, env: runs n and 2n calls, so start-up and warm-up
-- cancel out. The median of `runs` such pairs.
function _M.instructions_per_call(make_cmd, n, runs)
  local per = {}
  for i = 1, runs or 3 do
    local a = _M.instructions(make_cmd(n))
    local b = _M.instructions(make_cmd(2 * n))
    per[i] = (b - a) / n
  end
  return _M.median(per)
end

--- A TCP port that was free a moment ago on 127.0.0.1.
function _M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function write_file(name, text)
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
end
_M.write_file = write_file

local function read_file(name)
  local f = io.open(name)
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end
_M.read_file = read_file

local Nginx = {}
Nginx.__index = Nginx

--- Starts nginx (Debian's /usr/sbin/nginx or $NGINX) in a fresh temporary
-- prefix, serving `files` ({ ["/path"] = body }) as application/json on
-- 127.0.0.1. Returns an object with url and stop(). Raises with nginx's
-- error log when it does not come up.
function _M.nginx(files)
  local bin = os.getenv("NGINX") or "/usr/sbin/nginx"
  if not io.open(bin) then
    error(bin .. " not found: install nginx (see bench/setup)", 2)
  end
  local prefix = _M.run("mktemp -d /tmp/sp-bench-nginx.XXXXXX"):gsub("%s+$", "")
  os.execute("mkdir -p " .. _M.quote(prefix .. "/www") .. " " .. _M.quote(prefix .. "/tmp"))
  for path, body in pairs(files) do
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then os.execute("mkdir -p " .. _M.quote(prefix .. "/www" .. dir)) end
    write_file(prefix .. "/www" .. path, body)
  end
  local template = read_file(_M.DIR .. "/nginx.conf")
  local last_err
  for _ = 1, 5 do   -- the port may be taken between free_port and listen
    local port = _M.free_port()
    local conf = template:gsub("@PREFIX@", prefix):gsub("@PORT@", tostring(port))
    write_file(prefix .. "/nginx.conf", conf)
    local ok = os.execute(format("%s -p %s -c %s -e %s 2>>%s", _M.quote(bin),
      _M.quote(prefix), _M.quote(prefix .. "/nginx.conf"), _M.quote(prefix .. "/error.log"),
      _M.quote(prefix .. "/error.log")))
    if ok == true or ok == 0 then
      local self = setmetatable({ prefix = prefix, port = port,
        url = "http://127.0.0.1:" .. port }, Nginx)
      local deadline = socket.gettime() + 5
      while socket.gettime() < deadline do
        local pid = tonumber(read_file(prefix .. "/nginx.pid"):match("%d+"))
        local c = pid and socket.connect("127.0.0.1", port)
        if c then
          c:close()
          self.pid = pid
          return self
        end
        socket.sleep(0.02)
      end
      self.pid = tonumber(read_file(prefix .. "/nginx.pid"):match("%d+"))
      self:stop()
    end
    last_err = read_file(prefix .. "/error.log")
  end
  os.execute("rm -rf " .. _M.quote(prefix))
  error("nginx did not start:\n" .. tostring(last_err), 2)
end

--- Stops this nginx (and only it: the pid it wrote) and removes its prefix.
function Nginx:stop()
  if self.pid then
    os.execute(format("kill %d 2>/dev/null", self.pid))
    for _ = 1, 250 do   -- up to 5 s for it to exit
      if not os.execute(format("kill -0 %d 2>/dev/null", self.pid)) then break end
      socket.sleep(0.02)
    end
    self.pid = nil
  end
  if self.prefix then
    os.execute("rm -rf " .. _M.quote(self.prefix))
    self.prefix = nil
  end
end

--- Prints rows as an aligned table; rows[1] is the header.
function _M.print_table(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      local n = #tostring(cell)
      if not widths[i] or n > widths[i] then widths[i] = n end
    end
  end
  for r, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local s = tostring(cell)
      -- first column left, figures right
      cells[i] = i == 1 and s .. (" "):rep(widths[i] - #s) or (" "):rep(widths[i] - #s) .. s
    end
    print("  " .. concat(cells, "  "))
    if r == 1 then
      local rule = {}
      for i = 1, #widths do rule[i] = ("-"):rep(widths[i]) end
      print("  " .. concat(rule, "  "))
    end
  end
end

--- "1.23x" (a / b), or "-" when b is missing.
function _M.ratio(a, b)
  if not a or not b or b == 0 then return "-" end
  return format("%.2fx", a / b)
end

--- A target line: "PASS"/"MISS" and what was compared; also counted.
_M.misses = 0
function _M.target(ok, text)
  if not ok then _M.misses = _M.misses + 1 end
  print(format("  target %-4s %s", ok and "met" or "MISSED", text))
end

return _M
