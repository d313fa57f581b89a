--- The non-raising form, in the spirit of cjson.safe: the same client, but
-- every failure (bad options, bad arguments, network, API) is returned as
-- nil, err instead of raised, and every success as value, nil, meta: the
-- `res, err` idiom of OpenResty, so `if err then` and `if not res then` are
-- both right (docs/guide.md, "The safe form").
--
--   local sendpulse = require "sendpulse.safe"
--   local client, err = sendpulse.new { api_key = "..." }
--   local lists, err, meta = client:request("GET", "/addressbooks")
--   if err then print(err.kind, err.code, err) else print(#lists, meta.status) end

local base = require "sendpulse"
local client = require "sendpulse.client"

-- The safe forms, for editors (LuaLS): the same objects as the raising
-- client's, whose entry points return `value, nil, meta` on success and
-- `nil, err` on failure (the OpenResty `res, err` idiom), so that both
-- `if err then` and `if not res then` are right. The generated operations'
-- safe forms are in sendpulse/api/meta.lua (sendpulse.safe_api.<service>).

---@class sendpulse.SafeClient : sendpulse.Client
---@field request fun(self: sendpulse.SafeClient, method: sendpulse.HttpMethod, path: string,
---   opts?: sendpulse.RequestOptions): any, sendpulse.Error?, sendpulse.Meta?
---@field quota fun(self: sendpulse.SafeClient): sendpulse.Quota?, sendpulse.Error?
---@field start fun(self: sendpulse.SafeClient, method: sendpulse.HttpMethod, path: string,
---   opts?: sendpulse.RequestOptions, on_done?: fun(handle: sendpulse.Handle)): sendpulse.Handle?, sendpulse.Error?
---@field run fun(self: sendpulse.SafeClient, fn: (fun(): ...),
---   on_done?: fun(handle: sendpulse.Handle)): sendpulse.Handle?, sendpulse.Error?
---@field poll fun(self: sendpulse.SafeClient, timeout?: number): integer?, sendpulse.Error?
---@field async fun(self: sendpulse.SafeClient): sendpulse.AsyncClient?, sendpulse.Error?

-- The helpers every safe service has: a failure is `nil, err`; an
-- iterator's is one `false, err` and the end.
---@class sendpulse.SafeService
---@field each fun(self: sendpulse.SafeService, name: string, args?: table,
---   opts?: sendpulse.PageOptions): (fun(): any, sendpulse.Error?), sendpulse.Error?
---@field all fun(self: sendpulse.SafeService, name: string, args?: table, opts?: sendpulse.PageOptions): any[]?,
---   sendpulse.Error?, sendpulse.Meta?
---@field raw fun(self: sendpulse.SafeService, name: string, args?: table, call_opts?: sendpulse.CallOptions): any,
---   sendpulse.Error?, sendpulse.Meta?
---@field patient fun(self: sendpulse.SafeService, opts?: sendpulse.PatienceOptions): sendpulse.SafeService?,
---   sendpulse.Error?

---@class sendpulse.safe : sendpulse
local _M = {}
for k, v in pairs(base) do _M[k] = v end

--- The same client as sendpulse.new's, returning `nil, err` instead of raising.
---@param opts sendpulse.Options
---@return sendpulse.SafeClient? client
---@return sendpulse.Error? err a bad option (kind "argument")
function _M.new(opts)
  return client.new(opts, false)
end

return _M
