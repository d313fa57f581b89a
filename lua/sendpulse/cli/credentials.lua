--- Where the command's credentials come from, in this order:
--
--   1. --profile NAME (or SENDPULSE_PROFILE): that section of the profile file
--   2. SENDPULSE_API_KEY, or SENDPULSE_CLIENT_ID and SENDPULSE_CLIENT_SECRET
--   3. the section [default] of the profile file, when the file exists
--
-- The profile file is $SENDPULSE_CREDENTIALS, else
-- $XDG_CONFIG_HOME/sendpulse/credentials, else ~/.config/sendpulse/credentials:
--
--   [default]
--   client_id = ...
--   client_secret = ...
--
--   [sandbox]
--   api_key = sandbox-api-key
--   base_url = http://127.0.0.1:8765
--
-- It is refused unless it is a regular file that belongs to the user and
-- only the user can read or write (chmod 600), as ssh refuses a private key
-- others can read; it is checked on the file opened, never by its path
-- first (see read). The
-- base URL: --base-url, else SENDPULSE_BASE_URL, else the profile's base_url.
-- No message ever holds a secret.
local core = require "sendpulse.core"

local format, match, gsub, gmatch, tostring = string.format, string.match, string.gsub, string.gmatch, tostring

local _M = {}

_M.KEYS = { client_id = true, client_secret = true, api_key = true, base_url = true }

--- The profile file's path for an environment (getenv function).
function _M.path(getenv)
  local explicit = getenv("SENDPULSE_CREDENTIALS")
  if explicit and explicit ~= "" then return explicit end
  local config = getenv("XDG_CONFIG_HOME")
  if not config or config == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    config = home .. "/.config"
  end
  return config .. "/sendpulse/credentials"
end

-- A profile file is a few lines: anything larger is not one.
_M.MAX_SIZE = 65536

--- Reads and checks the profile file. Returns { name = { key = value } },
--- false when there is no such file, or nil and a message.
-- The file is opened once and checked on what was opened (csrc/sp_fs.h):
-- a regular file (a FIFO or a folder is refused without waiting), owned by
-- the user, no permission for group or others. A symbolic link is followed
-- (dotfile managers link this file), and the file it leads to is what is
-- checked and read: replacing the link meanwhile changes nothing.
function _M.read(path)
  local f, err = core.open(path, { mode = "read", what = "profile file", follow = true })
  if f == false then return false end
  if not f then return nil, err end
  local text
  text, err = f:read(_M.MAX_SIZE)
  f:close()
  if not text then return nil, err end
  local profiles, current, n = {}, nil, 0
  for line in gmatch(text .. "\n", "([^\n]*)\n") do
    n = n + 1
    line = gsub(gsub(line, "\r$", ""), "^%s+", "")
    -- blank lines and # or ; comments are skipped
    if line:find("^%[") then
      local name = match(line, "^%[%s*([%w_.%-]+)%s*%]%s*$")
      if not name then return nil, format("%s:%d: a section is [name]", path, n) end
      current = profiles[name] or {}
      profiles[name] = current
    elseif line ~= "" and not line:find("^[#;]") then
      local key, value = match(line, "^([%w_]+)%s*=%s*(.-)%s*$")
      if not key then return nil, format("%s:%d: expected key = value", path, n) end
      if not current then return nil, format("%s:%d: %s before any [profile] line", path, n, key) end
      if not _M.KEYS[key] then
        return nil, format("%s:%d: unknown key '%s' (known: api_key, base_url, client_id, client_secret)", path, n, key)
      end
      current[key] = value
    end
  end
  return profiles
end

--- The client options for the command: { client_id, client_secret } or
--- { api_key }, and base_url; or nil and a message.
-- opts: profile, base_url (from the command line); getenv.
function _M.resolve(opts, getenv)
  local chosen = opts.profile or getenv("SENDPULSE_PROFILE")
  if chosen == "" then chosen = nil end
  local out = {}
  local profile
  local path = _M.path(getenv)
  local env_key = getenv("SENDPULSE_API_KEY")
  local env_id, env_secret = getenv("SENDPULSE_CLIENT_ID"), getenv("SENDPULSE_CLIENT_SECRET")
  local from_env = (env_key and env_key ~= "") or (env_id and env_id ~= "" and env_secret and env_secret ~= "")
  if chosen or not from_env then
    local profiles, err = false, nil
    if path then profiles, err = _M.read(path) end
    if profiles == nil then return nil, err end
    if chosen and not profiles then
      return nil, format("--profile %s: no profile file (%s)", chosen, tostring(path))
    end
    if profiles then
      local name = chosen or "default"
      profile = profiles[name]
      if not profile and chosen then
        return nil, format("--profile %s: the profile file %s has no [%s] section", chosen, path, chosen)
      end
    end
  end
  if profile then
    if profile.api_key then out.api_key = profile.api_key
    else out.client_id, out.client_secret = profile.client_id, profile.client_secret end
    if not out.api_key and not (out.client_id and out.client_secret) then
      return nil, format("the profile '%s' needs api_key, or client_id and client_secret", chosen or "default")
    end
  elseif env_key and env_key ~= "" then
    out.api_key = env_key
  elseif from_env then
    out.client_id, out.client_secret = env_id, env_secret
  else
    return nil, "no credentials: set SENDPULSE_CLIENT_ID and SENDPULSE_CLIENT_SECRET (or SENDPULSE_API_KEY), "
      .. "or write a profile file (" .. tostring(path) .. "; see sendpulse help credentials)"
  end
  local base = opts.base_url or getenv("SENDPULSE_BASE_URL")
  if base == "" then base = nil end
  out.base_url = base or (profile and profile.base_url)
  return out
end

return _M
