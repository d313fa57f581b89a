--- Every operation of the API as a method of a service object:
-- client.email:create_mailing_list{ bookName = "Newsletter" }.
--
--   catalog.lua    the records (generated api/ data, api/extra.lua)
--   arguments.lua  checks of one argument against its record
--   method.lua     a record turned into a method that calls client:request
--   service.lua    the service objects: helpers first, then the methods
--
-- Loading this module attaches the hand-written helpers (sendpulse.helpers)
-- to the services; the client loads it on the first service it is asked
-- for, so a program that only calls client:request never loads the data.

local catalog = require "sendpulse.operations.catalog"
local service = require "sendpulse.operations.service"
local helpers = require "sendpulse.helpers"

local _M = {
  --- get(client, name) -> the client's service object, or nil
  get = service.get,
  --- operation(service, name) -> the record of one operation, or nil
  operation = catalog.operation,
  --- services() -> the service names, sorted
  services = catalog.services,
  --- operations(service) -> the operation names of a service, sorted
  operations = catalog.operations,
  --- base(service) -> the base path of a service ("", "/crm/v1", ...)
  base = catalog.base,
  --- method(service, name) -> the plain method of an operation (no helper)
  method = service.method,
  --- add_helper(service, name, fn): a hand-written method, found first
  add_helper = service.add_helper,
  --- The metatable of service objects.
  Service = service.Service,
}

helpers.register(service.add_helper)

return _M
