--- Bulk jobs on the email service, registered as helpers beside the
-- generated operations (see sendpulse.helpers):
--
--   client.email:import{ id =, rows =, batch =, journal =, rejects =, progress = }
--   client.email:export{ id =, out =, progress = }
--
--   csv        the CSV reader (LPeg) and writer
--   contacts   CSV records -> contacts, and the client-side checks
--   journal    the import's resumable state (atomic, synced)
--   rejects    the rejects file
--   import, export
local require = require

-- The two helpers, for editors (LuaLS): methods of client.email, whose
-- functions are sendpulse.bulk.import's import and sendpulse.bulk.export's
-- export.
---@class sendpulse.api.email
---@field import fun(self: sendpulse.api.email, args: sendpulse.ImportArgs,
---   call_opts?: sendpulse.CallOptions): sendpulse.ImportSummary
---@field export fun(self: sendpulse.api.email, args: sendpulse.ExportArgs,
---   call_opts?: sendpulse.CallOptions): sendpulse.ExportSummary

---@class sendpulse.safe_api.email
---@field import fun(self: sendpulse.safe_api.email, args: sendpulse.ImportArgs,
---   call_opts?: sendpulse.CallOptions): sendpulse.ImportSummary?, sendpulse.Error?
---@field export fun(self: sendpulse.safe_api.email, args: sendpulse.ExportArgs,
---   call_opts?: sendpulse.CallOptions): sendpulse.ExportSummary?, sendpulse.Error?

local _M = {}

-- Loaded on the first import or export, not when the operations load: the
-- CSV reader needs LPeg, and a program that never imports should neither pay
-- for it nor need it.
local function on_first_use(module, name)
  return function(...) return require(module)[name](...) end
end

function _M.register(add)
  add("email", "import", on_first_use("sendpulse.bulk.import", "import"))
  add("email", "export", on_first_use("sendpulse.bulk.export", "export"))
end

return _M
