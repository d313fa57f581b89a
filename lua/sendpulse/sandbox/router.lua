-- Route table for the sandbox. A service is a file under routes/ whose
-- `register(router)` adds its routes; the server loop never changes when a
-- service is added.
--
-- A route is a table:
--   method   "GET", "POST", ...
--   path     a template such as "/addressbooks/{id}/emails"; each {name}
--            matches one path segment and arrives as ctx.params.name
--   handler  function(ctx) -> status, value [, headers]; value is encoded
--            as JSON; reply.fail(...) inside it ends it with an error answer
--   control  true for /_sandbox/ routes: no auth, no rate limit, no faults,
--            not logged as traffic
--   identify optional function(ctx) -> account id or nil, used instead of
--            Bearer authentication (the token endpoint names its account
--            by client_id); the request is still rate-limited and logged
--   token    true for the token endpoint (counted as token_requests)
local setmetatable, ipairs, error, type = setmetatable, ipairs, error, type

local _M = {}

local Router = {}
Router.__index = Router

function _M.new()
  return setmetatable({ routes = {} }, Router)
end

local function compile(template)
  local names = {}
  local pattern = template:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  pattern = pattern:gsub("{([%w_]+)}", function(name)
    names[#names + 1] = name
    return "([^/]+)"
  end)
  return "^" .. pattern .. "$", names
end

function Router:add(route)
  if type(route.method) ~= "string" or type(route.path) ~= "string"
     or type(route.handler) ~= "function" then
    error("router:add: route needs method, path and handler", 2)
  end
  route.pattern, route.names = compile(route.path)
  self.routes[#self.routes + 1] = route
  return self
end

-- Find the route for a request. Returns route, params; or nil, "not found";
-- or nil, "method not allowed", allowed-methods-list when only the method
-- differs. A trailing slash is ignored.
function Router:match(method, path)
  if #path > 1 then path = path:gsub("/+$", "") end
  local allowed
  for _, route in ipairs(self.routes) do
    local captures = { path:match(route.pattern) }
    if captures[1] ~= nil then
      if route.method == method then
        local params = {}
        for i, name in ipairs(route.names) do params[name] = captures[i] end
        return route, params
      end
      allowed = allowed or {}
      allowed[#allowed + 1] = route.method
    end
  end
  if allowed then return nil, "method not allowed", allowed end
  return nil, "not found"
end

return _M
