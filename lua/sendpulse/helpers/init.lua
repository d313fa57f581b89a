--- Hand-written helpers that sit beside the generated operations, where the
-- raw API is awkward (see docs/helpers.md):
--
--   encoding   Base64 fields encoded and decoded for the caller
--   smtp_send  client.smtp:send{...}, a checked SMTP message
--   shapes     quirky answers normalised; service:raw(name, args) for the raw form
--   paging     service:each(name, args) / service:all(name, args) over pages
--   batches    inputs over a per-call limit split into batches
--   patience   service:patient{...}: waits out the codes with a wait (711, 791, 1004, ...)
--
-- sendpulse.operations calls register(add) once, when it loads; each module
-- adds its helpers with add(service, name, fn). What they call at run time
-- (the plain operations, the records) they require from
-- sendpulse.operations.service and sendpulse.operations.catalog.

local _M = {}

local MODULES = {
  "sendpulse.helpers.encoding",
  "sendpulse.helpers.smtp_send",
  "sendpulse.helpers.shapes",
  "sendpulse.helpers.paging",
  "sendpulse.helpers.batches",
  "sendpulse.helpers.patience",
  "sendpulse.bulk",            -- email:import, email:export
}

function _M.register(add)
  for _, name in ipairs(MODULES) do
    require(name).register(add)
  end
end

return _M
