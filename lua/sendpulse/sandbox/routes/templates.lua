-- Email templates. The body arrives Base64 and GET /template/{id} answers it
-- Base64, as SendPulse does; the sandbox keeps it decoded.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local base64 = require "sendpulse.sandbox.base64"

local type, ipairs, tostring = type, ipairs, tostring

local _M = {}

_M.FIRST_ID = 300001

local function store(ctx)
  local d = ctx.state:data_of("templates", ctx.account)
  d.list = d.list or {}
  d.by_id = d.by_id or {}
  return d
end

local function slug(name)
  return (name:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", ""))
end

local function view(t)
  return {
    id = tostring(t.id), real_id = t.id, lang = t.lang, name = t.name, name_slug = t.slug,
    created = t.created, full_description = "", category = "", category_info = json.array(),
    tags = json.array(), owner = "me", preview = "", is_structure = false,
    body = base64.encode(t.body),
  }
end

local function decode_body(body)
  if body.body == nil then return nil, reply.error(422, "Argument body missing", 422) end
  local plain = type(body.body) == "string" and base64.decode(body.body)
  if not plain then return nil, reply.error(422, "Argument body must be Base64", 21356) end
  if plain == "" then return nil, reply.error(400, "Template is empty", 32) end
  return plain
end

local function create(ctx)
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  local plain, s, v = decode_body(body)
  if not plain then return s, v end
  local d = store(ctx)
  local id = ctx.state:new_id("template", _M.FIRST_ID)
  local name = type(body.name) == "string" and body.name ~= "" and body.name or ("template " .. id)
  for _, t in ipairs(d.list) do
    if t.name == name then return reply.error(400, "Template name already exists", 573) end
  end
  local t = { id = id, name = name, slug = slug(name), lang = body.lang or "en", body = plain,
              created = reply.date(ctx.state:now(ctx.now)) }
  d.list[#d.list + 1] = t
  d.by_id[id] = t
  return 200, { result = true, real_id = id }
end

local function find(ctx, key)
  local d = store(ctx)
  return d.by_id[reply.integer(ctx.params[key]) or -1]
end

local function edit(ctx)
  local t = find(ctx, "id")
  if not t then return reply.error(400, "Template not found", 290) end
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  local plain, s, v = decode_body(body)
  if not plain then return s, v end
  t.body = plain
  if type(body.lang) == "string" then t.lang = body.lang end
  return 200, { result = true }
end

local function get(ctx)
  local t = find(ctx, "template_id")
  if not t then return reply.error(400, "Template not found", 290) end
  return 200, view(t)
end

local function by_slug(ctx)
  for _, t in ipairs(store(ctx).list) do
    if t.slug == ctx.params.name_slug then return 200, view(t) end
  end
  return reply.error(400, "Template not found", 290)
end

local function list(ctx)
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  local owner = ctx.query.owner
  if owner == "sendpulse" then return 200, json.array() end
  return 200, reply.slice(store(ctx).list, range, view)
end

function _M.register(router)
  router:add { method = "POST", path = "/template", handler = create }
  router:add { method = "POST", path = "/template/edit/{id}", handler = edit }
  router:add { method = "GET", path = "/template/slug/{name_slug}", handler = by_slug }
  router:add { method = "GET", path = "/template/{template_id}", handler = get }
  router:add { method = "GET", path = "/templates", handler = list }
end

return _M
