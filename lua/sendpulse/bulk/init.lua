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
local _M = {}

function _M.register(add)
  add("email", "import", require("sendpulse.bulk.import").import)
  add("email", "export", require("sendpulse.bulk.export").export)
end

return _M
