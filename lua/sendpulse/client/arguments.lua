--- client:request's arguments checked and made ready before any I/O: the
-- method, the path (its URL remembered), opts (the content and the call
-- options, whose rules are sendpulse.operations.call_options').

local json = require "sendpulse.json"
local errors = require "sendpulse.errors"
local query = require "sendpulse.wire.query"
local caller_headers = require "sendpulse.wire.headers"
local call_options = require "sendpulse.operations.call_options"

local type, pairs, pcall, tostring = type, pairs, pcall, tostring
local format = string.format
local argument_error = errors.argument

local _M = {}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true,
                  HEAD = true, OPTIONS = true }
-- opts: the content, and the call options (sendpulse.operations.call_options,
-- whose rules are checked below).
local OPTS = { query = true, json = true, form = true, body = true, content_type = true }
for k in pairs(call_options.NAMES) do OPTS[k] = true end
local CALL_OPTION_RULES = call_options.RULES

local URL_CACHE_SIZE = 64

local function bad(rule) return nil, argument_error("request: " .. rule) end

--- prepare(client, method, path, opts) -> url, body, content type, extra
-- header lines; or nil and an argument error.
function _M.prepare(self, method, path, opts)
  if type(method) ~= "string" or not METHODS[method] then
    return bad("argument 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (upper case)")
  end
  -- Checked paths and their URLs are remembered: programs call a few paths
  -- over and over, and the check and the concatenation were a sixth of the
  -- pipeline's own cost (bench/cost.lua). Bounded, for paths holding ids.
  local urls = self.urls
  local url = urls[path]
  if url == nil then
    if type(path) ~= "string" or path:sub(1, 1) ~= "/" or path:find("[%s#%c]") then
      return bad("argument 'path' must be a string starting with '/', without spaces or '#'")
    end
    url = self.cfg.base_url .. path
    if self.n_urls >= URL_CACHE_SIZE then
      urls = {}
      self.urls, self.n_urls = urls, 0
    end
    urls[path] = url
    self.n_urls = self.n_urls + 1
  end
  if opts == nil then return url end
  if type(opts) ~= "table" then return bad("argument 'opts' must be a table or nil") end
  for k in pairs(opts) do
    if not OPTS[k] then return bad(format("unknown option '%s' in opts", tostring(k))) end
  end
  if opts.query ~= nil then
    if type(opts.query) ~= "table" then return bad("opts.query must be a table") end
    local qs, err = query.encode(opts.query)
    if not qs then return bad("opts.query: " .. err) end
    if qs ~= "" then url = url .. (path:find("?", 1, true) and "&" or "?") .. qs end
  end
  local given = (opts.json ~= nil and 1 or 0) + (opts.form ~= nil and 1 or 0) + (opts.body ~= nil and 1 or 0)
  if given > 1 then return bad("give at most one of opts.json, opts.form and opts.body") end
  local body, ctype
  if opts.json ~= nil then
    local ok, encoded = pcall(json.encode, opts.json)
    if not ok then return bad("opts.json cannot be encoded: " .. tostring(encoded)) end
    body, ctype = encoded, "application/json"
  elseif opts.form ~= nil then
    if type(opts.form) ~= "table" then return bad("opts.form must be a table") end
    local encoded, err = query.encode(opts.form)
    if not encoded then return bad("opts.form: " .. err) end
    body, ctype = encoded, "application/x-www-form-urlencoded"
  elseif opts.body ~= nil then
    if type(opts.body) ~= "string" then return bad("opts.body must be a string") end
    body, ctype = opts.body, "application/octet-stream"
  end
  if opts.content_type ~= nil then
    if type(opts.content_type) ~= "string" or opts.content_type:find("[%z\1-\8\10-\31\127]") then
      return bad("opts.content_type must be a string without control characters")
    end
    ctype = opts.content_type
  end
  for i = 1, #CALL_OPTION_RULES do
    local rule = CALL_OPTION_RULES[i]
    local v = opts[rule[1]]
    if v ~= nil and not rule[2](v) then return bad(format("opts.%s %s", rule[1], rule[3])) end
  end
  local extra
  if opts.headers ~= nil then
    local why
    extra, why = caller_headers.lines(opts.headers)
    if not extra then return bad(why) end
  end
  return url, body, ctype, extra
end

return _M
