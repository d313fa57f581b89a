-- Contract test: every operation of SendPulse's OpenAPI files, called once
-- through client.<service>:<operation>(example) with the real client over
-- real sockets, against `prism mock` of that service's file. Prism checks
-- each request against the file and answers 422 with an `sl-violations`
-- header when it does not fit. Any violation fails the operation's test.
--
-- Needs prism (npm package @stoplight/prism-cli) in build/prism:
--   sh spec/contract/install-prism.sh
-- (npm ci of spec/contract/npm/package-lock.json: @stoplight/prism-cli 5.14.2)
-- or SP_PRISM=/path/to/prism. Without it the tests are pending (and fail
-- under CI=true, so a CI that forgot to install it cannot pass).
--
-- The operations below are defects of the files (and one of prism): no
-- request can satisfy them. Each is checked to fail with exactly the violation named, then
-- reported pending; if the file is fixed, the test fails so the entry goes.

local P = require "contract.prism"
local index = require "sendpulse.api"
local operations = require "sendpulse.operations"

local NO_ENTITY = { "declares path parameters entityType, entityId that the path lacks",
  { "'entitytype'", "'entityid'" } }
local NO_ATTRIBUTE = { "path has {attribute} but declares attributeId", "'attributeid'" }
local NO_MESSAGE = { "requires undeclared property 'message'", "'message'" }

local KNOWN_DEFECTS = {
  -- path parameters declared that the path does not have (entityType,
  -- entityId) or under another name ({attribute} declared as attributeId)
  ["crm:create_company_email"] = NO_ENTITY,
  ["crm:create_company_messenger"] = NO_ENTITY,
  ["crm:delete_company_messenger"] = NO_ENTITY,
  ["crm:delete_company_phone"] = NO_ENTITY,
  ["crm:get_company_emails"] = NO_ENTITY,
  ["crm:update_company_messenger"] = NO_ENTITY,
  ["crm:update_company_phone"] = NO_ENTITY,
  ["crm:delete_company_attribute"] = NO_ATTRIBUTE,
  ["crm:update_company_attribute"] = NO_ATTRIBUTE,
  -- oneOf of two schemas that every object matches (AddEmailsSingleOptIn,
  -- AddEmailsDoubleOptIn): "must match exactly one" can never hold
  ["email:add_emails_to_mailing_list"] = { "oneOf whose branches both match any body",
    "exactly one schema in oneOf" },
  -- the body requires a property it does not declare (the examples send
  -- "messages", the schema requires "message"; sendText requires "tag")
  ["instagram:send_message_to_contact"] = NO_MESSAGE,
  ["live_chat:send_contact_message"] = NO_MESSAGE,
  ["tiktok:send_contact_message"] = NO_MESSAGE,
  ["viber_bots:send_contact_message"] = NO_MESSAGE,
  ["messenger:send_text_to_contact"] = { "requires undeclared property 'tag'", "'tag'" },
  -- Not the file's defect but prism's: its multipart parser never yields an
  -- array for parts named "content[]" (one part or several, as curl -F sends
  -- them too), so the array the file asks for cannot be given.
  ["files:upload_file"] = { "prism cannot read repeated multipart parts content[] as an array",
    "content[] must be array" },
}

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function header(headers, name)
  if type(headers) ~= "table" then return nil end
  name = name:lower()
  for k, v in pairs(headers) do
    if type(k) == "string" and k:lower() == name then
      if type(v) == "table" then return table.concat(v, ", ") end
      return v
    end
  end
  return nil
end

-- The violations of one exchange, from the header or prism's problem body.
local function violations(status, body, headers)
  local out = P.request_violations(header(headers, "sl-violations"))
  if #out == 0 and status and (status < 200 or status >= 300) then
    local cjson = require "cjson.safe"
    local problem = cjson.decode(body or "")
    if type(problem) == "table" and type(problem.validation) == "table" then
      for _, v in ipairs(problem.validation) do out[#out + 1] = v end
    end
    if #out == 0 then
      out[1] = { message = ("HTTP %s: %s"):format(tostring(status), tostring(body):sub(1, 300)) }
    end
  end
  return out
end

local function messages(list)
  local m = {}
  for _, v in ipairs(list) do
    local loc = type(v.location) == "table" and table.concat(v.location, ".") or ""
    m[#m + 1] = (loc ~= "" and (loc .. ": ") or "") .. tostring(v.message)
  end
  return table.concat(m, "; ")
end

local services = {}
for name in pairs(index.services) do services[#services + 1] = name end
table.sort(services)

describe("contract: every operation against prism mock of its OpenAPI file", function()
  local prism = P.prism_bin()
  if not file_exists(prism) then
    if os.getenv("CI") then
      it("has prism installed", function()
        error("prism is not installed at " .. prism
          .. ": run sh spec/contract/install-prism.sh")
      end)
    else
      it("needs prism", function()
        pending("prism is not installed: sh spec/contract/install-prism.sh")
      end)
    end
    return
  end

  local sendpulse = require "sendpulse.safe"
  local transport = require "sendpulse.transport"
  local dir = os.getenv("SP_CONTRACT_DIR") or "build/contract"
  local handles, clients, last = {}, {}, {}
  local started_ok, start_error = false, nil
  local counts = { passed = 0, failed = 0, known = 0 }

  setup(function()
    os.execute('mkdir -p "' .. dir .. '"')
    -- prepare every file, start every prism at once (they take a few
    -- seconds each to read their file), then wait for each
    local files, pending_start = {}, {}
    for _, name in ipairs(services) do
      local e = index.services[name]
      files[name] = P.prepare(e.source, e.base, dir .. "/specs")
      pending_start[name] = P.start(files[name], P.free_port(), dir .. "/prism-" .. name .. ".log")
    end
    for _, name in ipairs(services) do
      local h = pending_start[name]
      local ok = P.wait(h, 150)
      if not ok then
        local err
        P.stop(h)
        -- the port was taken in between: once more, on other ports
        h, err = P.start_listening(files[name], dir .. "/prism-" .. name .. ".log", 150)
        if not h then start_error = name .. ": " .. err return end
      end
      handles[name] = h
    end
    for _, name in ipairs(services) do
      -- the real client and its curl transport, seen through a wrapper that
      -- keeps the last answer's status and headers (sl-violations)
      local real = transport.new({})
      local t = {}
      function t.perform(_, ...)
        local status, body, headers, x = real:perform(...)
        last[name] = { status = status, body = body, headers = headers }
        return status, body, headers, x
      end
      function t.close() real:close() end
      function t.connections() return real:connections() end
      clients[name] = assert(sendpulse.new {
        api_key = "contract-test-key",
        base_url = "http://127.0.0.1:" .. handles[name].port,
        rate_limit = false, retries = 0, timeout = 20, transport = t,
      })
    end
    started_ok = true
  end)

  teardown(function()
    for _, c in pairs(clients) do c:close() end
    for _, h in pairs(handles) do P.stop(h) end
    io.stderr:write(("\ncontract: %d operations accepted by prism, %d refused, %d known defects of the files\n")
      :format(counts.passed, counts.failed, counts.known))
  end)

  for _, service in ipairs(services) do
    local data = require(index.services[service].module)
    local names = {}
    for name in pairs(data.operations) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local op = data.operations[name]
      local key = service .. ":" .. name
      it(key .. " (" .. op.method .. " " .. data.base .. op.path .. ")", function()
        assert(started_ok, start_error or "prism did not start")
        local client = clients[service]
        local svc = client[service]
        assert.equal(operations.get(client, service), svc)
        last[service] = nil
        local value, err = svc[name](svc, op.example)
        if value == nil and err and err.kind == "argument" then
          counts.failed = counts.failed + 1
          error("our own check refused the example: " .. tostring(err))
        end
        local answer = last[service]
        assert(answer, "no request reached prism: " .. tostring(err))
        assert(answer.status, "transport failure: " .. tostring(err))
        local found = violations(answer.status, answer.body, answer.headers)
        local known = KNOWN_DEFECTS[key]
        if known then
          if #found == 0 then
            counts.failed = counts.failed + 1
            error("listed as a defect of the file (" .. known[1] .. ") but prism accepted it: drop the entry")
          end
          local expected = type(known[2]) == "table" and known[2] or { known[2] }
          for _, v in ipairs(found) do
            local matched = false
            for _, e in ipairs(expected) do
              if tostring(v.message):find(e, 1, true) then matched = true end
            end
            if not matched then
              counts.failed = counts.failed + 1
              error("besides the known defect (" .. known[1] .. "): " .. messages(found))
            end
          end
          counts.known = counts.known + 1
          pending("known defect: " .. known[1])
          return
        end
        if #found > 0 then
          counts.failed = counts.failed + 1
          error(("prism refused %s %s: %s"):format(op.method, data.base .. op.path, messages(found)))
        end
        counts.passed = counts.passed + 1
      end)
    end
  end
end)
