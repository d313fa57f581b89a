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
