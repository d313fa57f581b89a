-- Web push: websites and tasks (campaigns). Websites are added in
-- SendPulse's web interface, not through the API, so every account starts
-- with one: https://example.com (its id from GET /push/websites).
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local inbox = require "sendpulse.sandbox.inbox"

local type, ipairs = type, ipairs

local _M = {}

_M.FIRST_SITE = 701
_M.FIRST_TASK = 8001

local function store(ctx)
  local d = ctx.state:data_of("push", ctx.account)
  if not d.sites then
    local id = ctx.state:new_id("push_site", _M.FIRST_SITE)
    d.sites = { { id = id, url = "https://example.com", add_date = reply.date(ctx.state:now(ctx.now)), status = 1 } }
    d.tasks = {}
  end
  return d
end

local function site(ctx, id)
  id = reply.integer(id)
  for _, s in ipairs(store(ctx).sites) do if s.id == id then return s end end
  return nil
end

local function websites(ctx)
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  return 200, reply.slice(store(ctx).sites, range)
end

local function websites_total(ctx) return 200, { total = #store(ctx).sites } end

local function website_info(ctx)
  local s = site(ctx, ctx.params.id)
  if not s then return reply.error(404, "Website not found", 404) end
  return 200, { id = s.id, url = s.url, status = "active", icon = "", add_date = s.add_date,
                total_subscribers = 0, unsubscribed = 0, subscribers_today = 0, active_subscribers = 0 }
end

local function site_or_404(ctx, fn)
  local s = site(ctx, ctx.params.id)
  if not s then return reply.error(404, "Website not found", 404) end
  return fn(s)
end

local function variables(ctx) return site_or_404(ctx, function() return 200, json.array() end) end
local function subscriptions(ctx) return site_or_404(ctx, function() return 200, json.array() end) end
local function subscriptions_total(ctx) return site_or_404(ctx, function() return 200, { total = 0 } end) end
local function code(ctx)
  return site_or_404(ctx, function(s)
    return 200, { script_code = "<script charset=\"UTF-8\" src=\"//web.webpushs.com/js/push/sandbox_"
      .. s.id .. ".js\" async></script>" }
  end)
end

local function create_task(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  for _, f in ipairs { "title", "body" } do
    local _, s, v = reply.string_field(body, f)
    if s then return s, v end
  end
  if #body.title > 50 then return reply.error(422, "Argument title may not be longer than 50 characters", 422) end
  if #body.body > 125 then return reply.error(422, "Argument body may not be longer than 125 characters", 422) end
  local ttl = reply.integer(body.ttl)
  if not ttl or ttl < 1 then return reply.error(422, "Argument ttl must be a positive integer", 422) end
  local s = site(ctx, body.website_id)
  if not s then return reply.error(404, "Website not found", 404) end
  local d = store(ctx)
  local t = { id = ctx.state:new_id("push_task", _M.FIRST_TASK), title = body.title, body = body.body,
              website_id = s.id, link = body.link, ttl = ttl, status = 1,
              send_date = type(body.send_date) == "string" and body.send_date or reply.date(ctx.state:now(ctx.now)) }
  d.tasks[#d.tasks + 1] = t
  inbox.push(ctx, t, s)
  return 200, { result = true, id = t.id }
end

local function tasks(ctx)
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  local wanted = ctx.query.website_id and reply.integer(ctx.query.website_id)
  local list = {}
  for _, t in ipairs(store(ctx).tasks) do
    if not wanted or t.website_id == wanted then list[#list + 1] = t end
  end
  return 200, reply.slice(list, range, function(t)
    return { id = t.id, title = t.title, body = t.body, website_id = t.website_id, status = t.status,
             send_date = t.send_date }
  end)
end

local function task(ctx)
  local id = reply.integer(ctx.params.id)
  for _, t in ipairs(store(ctx).tasks) do
    if t.id == id then
      return 200, { id = t.id, message = { title = t.title, text = t.body, link = t.link or "" },
                    website = (site(ctx, t.website_id) or {}).url, status = t.status,
                    send = 0, delivered = 0, redirect = 0 }
    end
  end
  return reply.error(404, "Task not found", 404)
end

function _M.register(router)
  router:add { method = "GET", path = "/push/websites", handler = websites }
  router:add { method = "GET", path = "/push/websites/total", handler = websites_total }
  router:add { method = "GET", path = "/push/websites/info/{id}", handler = website_info }
  router:add { method = "GET", path = "/push/websites/{id}/variables", handler = variables }
  router:add { method = "GET", path = "/push/websites/{id}/subscriptions", handler = subscriptions }
  router:add { method = "GET", path = "/push/websites/{id}/subscriptions/total", handler = subscriptions_total }
  router:add { method = "GET", path = "/push/websites/{id}/code", handler = code }
  router:add { method = "POST", path = "/push/tasks", handler = create_task }
  router:add { method = "GET", path = "/push/tasks", handler = tasks }
  router:add { method = "GET", path = "/push/tasks/{id}", handler = task }
end

return _M
