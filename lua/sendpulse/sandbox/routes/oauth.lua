-- POST /oauth/access_token: client-credentials tokens.
local reply = require "sendpulse.sandbox.reply"

local _M = {}

_M.PATH = "/oauth/access_token"

local function oauth_error(status, code, description)
  return status, { error = code, error_description = description, message = description }
end

local function invalid_request()
  return oauth_error(400, "invalid_request",
    "The request is missing a required parameter, includes an invalid parameter value, "
    .. "includes a parameter more than once, or is otherwise malformed.")
end

-- The token request counts against the rate limit of the account its
-- client_id names (known client_id, whatever the secret).
local function identify(ctx)
  local p = reply.try_params(ctx.req)
  if p and ctx.state:has_account(p.client_id) then return p.client_id end
  return nil
end

local function access_token(ctx)
  local p = reply.try_params(ctx.req)
  if not p then return invalid_request() end
  if p.grant_type ~= "client_credentials" then
    return oauth_error(400, "unsupported_grant_type",
      "The authorization grant type is not supported by the authorization server.")
  end
  if not ctx.state:check_secret(p.client_id, p.client_secret) then
    return oauth_error(401, "invalid_client", "Client authentication failed")
  end
  local token, ttl = ctx.state:issue_token(p.client_id, ctx.now)
  return 200, { access_token = token, token_type = "Bearer", expires_in = ttl }
end

function _M.register(router)
  router:add { method = "POST", path = _M.PATH, handler = access_token,
               identify = identify, token = true }
end

return _M
