-- Contract test: every operation of SendPulse's OpenAPI files, called once
-- through client.<service>:<operation>(example) with the real client over
-- real sockets, against `prism mock` of that service's contract (extracted
-- into spec/contract/openapi/ and rebuilt as an OpenAPI document, see
-- spec/contract/prism.lua). Prism checks each request against it and answers
-- 422 with an `sl-violations` header when it does not fit. Any violation
-- fails the operation's test.
--
-- Needs prism (npm package @stoplight/prism-cli) in build/prism:
--   sh spec/contract/install-prism.sh
-- (npm ci of spec/contract/npm/package-lock.json: @stoplight/prism-cli 5.14.2)
-- or SP_PRISM=/path/to/prism. Without it the tests are pending (and fail
-- under CI=true, so a CI that forgot to install it cannot pass).
--
-- The operations no request can satisfy (defects of the files, and one of
-- prism) are listed in spec/contract/defects.lua: their test asserts that
-- prism refuses them with exactly the violations named there, so it fails
-- when a file is fixed, until the entry goes.

local P = require "contract.prism"
local index = require "sendpulse.api"
local operations = require "sendpulse.operations"
local KNOWN_DEFECTS = require("contract.defects").requests

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
  local handles, clients, last, files = {}, {}, {}, {}
  local started_ok, start_error = false, nil
  local counts = { passed = 0, failed = 0, known = 0 }

  setup(function()
    os.execute('mkdir -p "' .. dir .. '"')
    -- prepare every file, start every prism at once (they take a few
    -- seconds each to read their file), then wait for each
    local pending_start = {}
    for _, name in ipairs(services) do
      local e = index.services[name]
      local stem = e.source:match("^sendpulse%-(.+)%-openapi%.yml$")
      files[name] = P.prepare(stem, e.base, dir .. "/specs")
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
    io.stderr:write(("\ncontract: %d operations accepted by prism, %d refused, %d known defects still refused\n")
      :format(counts.passed, counts.failed, counts.known))
  end)

  it("gives prism valid OpenAPI documents (checked against the specification's schemas)", function()
    assert(started_ok, start_error or "prism did not start")
    local list = {}
    for _, name in ipairs(services) do list[#list + 1] = "'" .. files[name] .. "'" end
    -- and one that is not: the bulk-email file without the Error schema it refers to
    local json = require "sendpulse.json"
    local broken = P.document("bulk-email", "")
    broken.components.schemas.Error = nil
    local f = assert(io.open(dir .. "/broken.json", "w"))
    f:write(json.encode(broken))
    f:close()
    local p = io.popen("node spec/contract/validate-openapi.mjs " .. table.concat(list, " ") .. " '" .. dir
      .. "/broken.json' 2>&1")
    local out = p:read("*a")
    p:close()
    local ok = select(2, out:gsub("\nok ", "")) + (out:match("^ok ") and 1 or 0)
    assert.equal(#services, ok, out)
    assert.matches("invalid " .. dir .. "/broken.json: Can't resolve #/components/schemas/Error", out, 1, true)
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
          -- the defect is still there: refused with exactly its violations
          if #found == 0 then
            counts.failed = counts.failed + 1
            error("listed in spec/contract/defects.lua (" .. known.why .. ") but prism accepted it: drop the entry")
          end
          local seen = {}
          for _, v in ipairs(found) do
            local matched = false
            for _, e in ipairs(known.violations) do
              if tostring(v.message):find(e, 1, true) then matched, seen[e] = true, true end
            end
            if not matched then
              counts.failed = counts.failed + 1
              error("besides the known defect (" .. known.why .. "): " .. messages(found))
            end
          end
          for _, e in ipairs(known.violations) do
            if not seen[e] then
              counts.failed = counts.failed + 1
              error("the known defect (" .. known.why .. ") no longer shows " .. e .. ": " .. messages(found))
            end
          end
          counts.known = counts.known + 1
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
