-- Headless Chromium for the specs (Debian's `chromium`, installed by
-- .ci/setup; never a downloaded browser): started with a fresh profile in
-- a temporary folder, no network of its own (no sync, updates, QUIC or
-- background fetches), and driven over the DevTools protocol
-- (support/cdp.lua).
--
--   local browser = require "support.browser"
--   local b = browser.start()          -- raises when Chromium is missing
--   local page = b:page()              -- a cdp page on about:blank
--   page:navigate(url)
--   b:stop()
--
-- browser.available() says whether /usr/bin/chromium is there; the specs
-- fail without it (CI installs it) rather than skip.
local socket = require "socket"
local cjson = require "cjson.safe"
local cdp = require "support.cdp"
local sys = require "support.sys"

local _M = {}

_M.BINARY = os.getenv("SP_CHROMIUM") or "/usr/bin/chromium"
_M.START_TIMEOUT = 30

-- Flags every run uses (root needs --no-sandbox; the rest keep the
-- browser from reaching anything but what a spec opens).
_M.FLAGS = { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
             "--force-color-profile=srgb", "--font-render-hinting=none" }

function _M.available()
  return sys.exists(_M.BINARY)
end

local function mktemp_dir()
  local p = io.popen("mktemp -d")
  local dir = p:read("*l")
  p:close()
  return dir
end

-- The flags as one shell string, with the profile folder and extra flags.
function _M.command(profile, extra)
  local args = { sys.shell_quote(_M.BINARY) }
  for _, f in ipairs(_M.FLAGS) do args[#args + 1] = f end
  args[#args + 1] = "--user-data-dir=" .. sys.shell_quote(profile)
  for _, f in ipairs(extra or {}) do args[#args + 1] = sys.shell_quote(f) end
  return table.concat(args, " ")
end

local Browser = {}
Browser.__index = Browser

function _M.start(opts)
  opts = opts or {}
  assert(_M.available(), _M.BINARY .. " is missing: .ci/setup installs Debian's chromium")
  local profile = mktemp_dir()
  local errlog = profile .. ".stderr"
  local cmd = _M.command(profile, { "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
    "--window-size=" .. (opts.window or "1280,900"), "about:blank" })
  local p = io.popen(cmd .. " >/dev/null 2>" .. sys.shell_quote(errlog) .. " & echo $!")
  local pid = tonumber(p:read("*l"))
  p:close()
  local self = setmetatable({ pid = pid, profile = profile, errlog = errlog }, Browser)
  local deadline = socket.gettime() + _M.START_TIMEOUT
  while not self.port do
    local port = sys.read_file(errlog):match("DevTools listening on ws://127%.0%.0%.1:(%d+)/")
    self.port = tonumber(port)
    if not self.port then
      if socket.gettime() > deadline then
        local log = sys.read_file(errlog)
        self:stop()
        error("chromium did not start: " .. log, 2)
      end
      socket.sleep(0.05)
    end
  end
  return self
end

local function http_get(port, path)
  local sock = assert(socket.connect("127.0.0.1", port))
  sock:settimeout(10)
  sock:send("GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1:" .. port .. "\r\n\r\n")
  -- (Chromium keeps the connection open: read by Content-Length)
  local length = 0
  repeat
    local line = sock:receive("*l")
    local n = line and line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if n then length = tonumber(n) end
  until not line or line == ""
  local body = length > 0 and sock:receive(length) or ""
  sock:close()
  return body
end

-- A cdp page: the browser's first tab, its network events on.
function Browser:page()
  local deadline = socket.gettime() + 10
  while true do
    local list = cjson.decode(http_get(self.port, "/json/list") or "null")
    for _, t in ipairs(type(list) == "table" and list or {}) do
      if t.type == "page" then
        local page = assert(cdp.connect(t.webSocketDebuggerUrl))
        page:call("Page.enable")
        page:call("Network.enable")
        page:call("Runtime.enable")
        return page
      end
    end
    if socket.gettime() > deadline then error("chromium has no page target", 2) end
    socket.sleep(0.1)
  end
end

function Browser:stop()
  -- its profile folder goes once it has exited (it writes there until then)
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null; i=0; while kill -0 " .. self.pid
    .. " 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill -9 " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  if self.profile then
    os.execute("rm -rf " .. sys.shell_quote(self.profile) .. " " .. sys.shell_quote(self.errlog))
  end
  self.profile = nil
end

return _M
