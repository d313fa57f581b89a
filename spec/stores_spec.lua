-- The store families follow one interface (sendpulse.stores, issue 18 item
-- 3): token stores, limiters and webhook stores are modules named by their
-- place, made with new(opts) whose options are checked at once and named
-- alike, and objects whose names say their family and place. What each
-- family's objects do is tested where the family is (shared_spec,
-- token_store_spec, webhooks_dedupe_spec, nginx_spec, webhooks_nginx_spec);
-- here, what they share. Redis objects are made against a real
-- redis-server (spec/support/redis_process); nothing is connected before a
-- call, so the shared dict ones, which exist only inside nginx, are checked
-- here for refusing to be made outside it.
local stores = require "sendpulse.stores"
local webhooks = require "sendpulse.webhooks"
local redis_process = require "support.redis_process"

local PLACES = { memory = true, file = true, redis = true, shared_dict = true }

-- family folder (under lua/sendpulse) -> its module prefix and the name its
-- errors use
local FAMILIES = {
  ["account/token_store"] = { module = "sendpulse.account.token_store", who = "token_store" },
  ["account/limiter"] = { module = "sendpulse.account.limiter", who = "limiter" },
  ["webhooks/stores"] = { module = "sendpulse.webhooks.stores", who = "stores" },
}

-- What each family's new needs besides the place's own options.
local function needs(family, place)
  if family == "account/limiter" then
    local fallback = require("sendpulse.core").limiter { rate = 10 }
    return { key = "t:rate", rate = 10, burst = 1, fallback = fallback, report = function() end,
             fallback_kind = place == "redis" and "process" or nil }
  end
  return {}
end

describe("the store families", function()
  local redis, dir

  setup(function()
    redis = redis_process.start()
    dir = os.tmpname()
    os.remove(dir)
  end)
  teardown(function()
    if redis then redis:stop() end
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("name their modules by place only: memory, file, redis, shared_dict", function()
    for folder in pairs(FAMILIES) do
      local p = io.popen("ls lua/sendpulse/" .. folder)
      for file in p:lines() do
        local place = file:match("^(.*)%.lua$")
        assert.is_truthy(place and PLACES[place], folder .. "/" .. file .. " is not named by a place")
      end
      p:close()
    end
  end)

  it("make objects named sendpulse.<family>.<place> whose text names the place", function()
    local made = 0
    for folder, f in pairs(FAMILIES) do
      for place in pairs(PLACES) do
        local ok, mod = pcall(require, f.module .. "." .. place)
        if ok then
          local opts = needs(folder, place)
          if place == "file" then opts.dir = dir end
          if place == "redis" then opts.port = redis.port end
          if place ~= "shared_dict" then
            local store = mod.new(opts)
            local name = f.module .. "." .. place
            assert.equal(name, getmetatable(store).__name)
            local text = tostring(store)
            assert.equal(name, text:sub(1, #name), text)
            made = made + 1
          end
        end
      end
    end
    -- token: file, redis; limiter: redis; webhooks: memory, file, redis
    assert.equal(6, made)
  end)

  it("refuse an unknown option, naming the family, the place and the known ones", function()
    for folder, f in pairs(FAMILIES) do
      for place in pairs(PLACES) do
        local ok, mod = pcall(require, f.module .. "." .. place)
        if ok and place ~= "shared_dict" then
          local opts = needs(folder, place)
          opts.colour = "blue"
          local ok2, err = pcall(mod.new, opts)
          assert.is_false(ok2)
          local who = f.who .. "." .. place .. ".new"
          assert.matches(who .. ": unknown option 'colour' (known: ", tostring(err), 1, true)
        end
      end
    end
  end)

  it("take Redis through 'connection' (call, and script where a family runs scripts) or host and port", function()
    local conn = require("sendpulse.redis").connection { host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
    local tokens = require("sendpulse.account.token_store.redis").new { connection = conn, prefix = "t:" }
    tokens:set("k", "a-token", 60)
    assert.equal("a-token", (tokens:get("k")))
    local seen = require("sendpulse.webhooks.stores.redis").new { port = redis.port, prefix = "w:" }
    assert.is_true(seen:add("e1", 60))
    assert.is_false(seen:add("e1", 60))
    -- a webhook store needs call only; a token store and a limiter run scripts
    assert.has_error(function()
      require("sendpulse.webhooks.stores.redis").new { connection = {} }
    end, "stores.redis.new: 'connection' must have a call(self, command, ...) method")
    assert.has_error(function()
      require("sendpulse.account.token_store.redis").new { connection = { call = function() end } }
    end, "token_store.redis.new: 'connection' must have a script(self, source, nkeys, ...) method")
  end)

  it("refuse a shared dict outside nginx, naming the family and why", function()
    for folder, f in pairs(FAMILIES) do
      local ok, mod = pcall(require, f.module .. ".shared_dict")
      if ok then
        local opts = needs(folder, "shared_dict")
        opts.dict = "sendpulse"
        local ok2, err = pcall(mod.new, folder == "account/limiter" and opts or "sendpulse")
        assert.is_false(ok2)
        assert.matches(f.who .. ".shared_dict.new: there is no ngx.shared here", tostring(err), 1, true)
        -- the table form names the dict as well
        if folder ~= "account/limiter" then
          assert.is_false((pcall(mod.new, { dict = "sendpulse" })))
        end
      end
    end
  end)

  it("keep webhooks.stores.shdict, the name docs gave before shared_dict, as the same constructor", function()
    assert.equal(webhooks.stores.shared_dict, webhooks.stores.shdict)
  end)

  it("share their option checks: a table or nil, known names only", function()
    assert.same({}, stores.options(nil, "x.new", { "a" }))
    assert.has_error(function() stores.options("a", "x.new", { "a" }) end,
      "x.new: argument must be a table or nil")
    assert.has_error(function() stores.options({ b = 1 }, "x.new", { "a", "c" }) end,
      "x.new: unknown option 'b' (known: a, c)")
  end)
end)
