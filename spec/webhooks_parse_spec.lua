-- sendpulse.webhooks.parse: every documented event of each family into the
-- one event shape; what is not a JSON array of objects into a clear error.
local webhooks = require "sendpulse.webhooks"
local fixtures = require "support.webhook_fixtures"
local json = require "sendpulse.json"
local errors = require "sendpulse.errors"

local function is_integer(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end

local SHAPE = { "source", "type", "time", "email", "task_id", "message_id", "book_id", "link_id",
                "link_url", "service" }

describe("webhooks.parse", function()
  describe("fixtures: each documented event of each family", function()
    for _, f in ipairs(fixtures.list) do
      it(f.family .. " " .. f.name, function()
        local events, err = webhooks.parse(f.body)
        assert.is_nil(err)
        assert.equal(1, #events)
        local e = events[1]
        for _, field in ipairs(SHAPE) do
          assert.equal(f.expect[field], e[field], field)
        end
        for _, id in ipairs { "time", "task_id", "message_id", "book_id", "link_id" } do
          if e[id] ~= nil then assert.is_true(is_integer(e[id]), id .. " is not an integer") end
        end
        -- The original object, as decoded, is kept whole.
        assert.same(json.decode(f.body)[1], e.raw)
        if f.family == "chatbot" then
          assert.equal("64f1c0ffee", e.bot.id)
          assert.equal("Shop", e.bot.name)
          assert.equal("650a1b2c3d", e.contact.id)
          assert.equal("Kyiv", e.contact.variables.city)
          assert.is_nil(e.email)
        else
          assert.is_nil(e.bot)
          assert.is_nil(e.contact)
        end
      end)
    end

    it("all of them in one batch, in order, each with its own key", function()
      local bodies = {}
      for i, f in ipairs(fixtures.list) do bodies[i] = f.body:sub(2, -2) end
      local events = assert(webhooks.parse("[" .. table.concat(bodies, ",\n ") .. "]"))
      assert.equal(#fixtures.list, #events)
      local keys = {}
      for i, e in ipairs(events) do
        assert.equal(fixtures.list[i].expect.type, e.type)
        local k = webhooks.key(e)
        assert.matches("^sendpulse:webhook:%x+$", k)
        assert.equal(18 + 32, #k)
        assert.is_nil(keys[k], "two fixtures share a key: " .. fixtures.list[i].name)
        keys[k] = true
      end
    end)
  end)

  describe("types the families disagree on", function()
    it("email-service strings and SMTP integers give the same types", function()
      local events = assert(webhooks.parse([=[[
        {"event":"open","timestamp":"1496827422","task_id":"5001","email":"a@example.com","book_id":"7"},
        {"event":"open","timestamp":1496827422,"task_id":5001,"email":"a@example.com","book_id":7}]]=]))
      assert.same({ events[1].time, events[1].task_id, events[1].book_id },
                  { events[2].time, events[2].task_id, events[2].book_id })
      -- and the same key: a repeat that changed the number's type is still a repeat
      assert.equal(webhooks.key(events[1]), webhooks.key(events[2]))
    end)

    it("values of the wrong kind leave the field nil and stay in raw", function()
      local events = assert(webhooks.parse([=[[
        {"event":7,"timestamp":"yesterday","task_id":"12a","email":{"x":1},"link_id":1.5},
        {"recipient":"b@example.com","message_id":"y0fddm-0aq0hy","timestamp":1e30,"event":"delivered"},
        {"service":"telegram","title":"x","bot":"not an object","contact":[1],"date":"soon"}]]=]))
      local a, b, c = events[1], events[2], events[3]
      assert.equal("email", a.source)
      assert.is_nil(a.type); assert.is_nil(a.time); assert.is_nil(a.task_id)
      assert.is_nil(a.email); assert.is_nil(a.link_id)
      assert.equal("yesterday", a.raw.timestamp)
      assert.equal("smtp", b.source)
      assert.is_nil(b.message_id); assert.is_nil(b.time)
      assert.equal("y0fddm-0aq0hy", b.raw.message_id)
      assert.equal("chatbot", c.source)
      assert.is_nil(c.bot); assert.is_nil(c.time)
      assert.same({ 1 }, c.contact)   -- a table is passed on as sent
    end)

    it("keeps unknown event names and extra keys as data", function()
      local events = assert(webhooks.parse(
        [[ [{"event":"brand_new_event","timestamp":"1","email":"a@example.com","extra":{"deep":[1,2]}},
            {"something":"else entirely"}, {}] ]]))
      assert.equal("brand_new_event", events[1].type)
      assert.same({ deep = { 1, 2 } }, events[1].raw.extra)
      assert.equal("unknown", events[2].source)
      assert.equal("else entirely", events[2].raw.something)
      assert.equal("unknown", events[3].source)
    end)

    it("large ids: exact up to 2^53, refused (nil) beyond rather than rounded", function()
      local events = assert(webhooks.parse(
        [[ [{"event":"open","task_id":"9007199254740991","email":"a@example.com"},
            {"event":"open","task_id":"99999999999999999999","email":"a@example.com"}] ]]))
      assert.equal(9007199254740991, events[1].task_id)
      assert.is_nil(events[2].task_id)
    end)
  end)

  describe("bodies that are not a JSON array of objects", function()
    local cases = {
      { "", "json" }, { "not json", "json" }, { "[{]", "json" }, { "[1,]", "json" },
      { '[{"a":1}] trailing', "json" }, { ("["):rep(5000), "json" },
      { "{}", "array" }, { '{"event":"open"}', "array" }, { "42", "array" }, { "null", "array" },
      { '"[]"', "array" }, { "[1]", "object" }, { "[null]", "object" }, { '[{}, "x"]', "object" },
      { "[[]]", "object" }, { "[{}, [] ]", "object" }, { '[{"a":"[]"}, [{"b":1}]]', "object" },
    }
    for _, c in ipairs(cases) do
      it(("%q -> %s"):format(c[1]:sub(1, 30), c[2]), function()
        local events, err = webhooks.parse(c[1])
        assert.is_nil(events)
        assert.is_true(errors.is_error(err))
        assert.equal("decode", err.kind)
        assert.equal(c[2], err.rule)
        assert.equal("body", err.argument)
        assert.matches("^sendpulse: decode error: webhook body: ", tostring(err))
      end)
    end

    it("names the item that is not an object", function()
      local _, err = webhooks.parse('[{"event":"open"}, {"event":"open"}, 3]')
      assert.equal(3, err.index)
      assert.equal("webhook body: item 3 is a number, not an object", err.message)
    end)

    it("says why the JSON is bad, and where", function()
      local _, err = webhooks.parse('[{"event":"open",}]')
      assert.matches("not JSON: json: .* at character %d+", err.message)
    end)

    it("an empty array is no events, not an error", function()
      assert.same({}, assert(webhooks.parse(" [ ] ")))
    end)
  end)

  describe("limits", function()
    it("max_body: default 1 MiB; a longer body is refused before it is decoded", function()
      assert.equal(1024 * 1024, webhooks.MAX_BODY)
      local item = '{"event":"open","email":"a@example.com"}'
      local body = "[" .. item .. (("," .. item):rep(40)) .. "]"
      assert.equal(41, #assert(webhooks.parse(body, nil, { max_body = #body })))
      local _, err = webhooks.parse(body, nil, { max_body = #body - 1 })
      assert.equal("size", err.rule)
      assert.equal(#body, err.size)
      assert.equal(#body - 1, err.limit)
      -- over the default: refused on its length, even though it is not JSON at all
      local _, big = webhooks.parse(("x"):rep(webhooks.MAX_BODY + 1))
      assert.equal("size", big.rule)
    end)

    it("max_events: default 1000", function()
      assert.equal(1000, webhooks.MAX_EVENTS)
      local items = {}
      for i = 1, 1001 do items[i] = '{"event":"open","email":"a@example.com"}' end
      local _, err = webhooks.parse("[" .. table.concat(items, ",") .. "]")
      assert.equal("count", err.rule)
      assert.equal(1001, err.count)
      assert.equal(1000, #assert(webhooks.parse("[" .. table.concat(items, ",", 1, 1000) .. "]")))
      local _, three = webhooks.parse("[{},{},{}]", nil, { max_events = 2 })
      assert.equal("count", three.rule)
    end)

    it("Content-Encoding other than identity is refused (nothing is inflated)", function()
      local _, err = webhooks.parse("[]", { ["Content-Encoding"] = "gzip" })
      assert.equal("encoding", err.rule)
      assert.truthy(webhooks.parse("[]", { ["content-encoding"] = "identity", ["X-Other"] = "1" }))
    end)

    it("bad arguments are argument errors naming them; the limits table is only read", function()
      local limits = { max_body = 10 }
      webhooks.parse("[]", nil, limits)
      assert.same({ max_body = 10 }, limits)
      for _, c in ipairs {
        { function() webhooks.parse(nil) end, "'body' must be a string, got nil" },
        { function() webhooks.parse("[]", "x") end, "'headers' must be a table or nil" },
        { function() webhooks.parse("[]", nil, { max_body = 0 }) end, "limit 'max_body' must be a whole number >= 1" },
        { function() webhooks.parse("[]", nil, { max_evnets = 3 }) end, "unknown limit 'max_evnets'" },
      } do
        local ok, err = pcall(c[1])
        assert.is_false(ok)
        assert.equal("argument", err.kind)
        assert.truthy(err.message:find(c[2], 1, true), err.message)
      end
    end)
  end)
end)
