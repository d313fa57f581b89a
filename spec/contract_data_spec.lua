-- The contract extracted from SendPulse's OpenAPI files (spec/contract/openapi/)
-- and the documents rebuilt from it: complete, free of prose, with its
-- provenance, its known defects still there, and the repository standing on
-- its own (no tracked file reaches for a folder beside it).
--
-- Tagged #once: facts about the repository and its data, not the library in
-- a given interpreter; one plain pass of `make check` is enough.

local openapi = require "contract.openapi"
local defects = require "contract.defects"

local function count_operations(tree)
  local n = 0
  for _, item in pairs(tree.paths) do
    for _, m in ipairs(openapi.METHODS) do
      if type(item[m]) == "table" then n = n + 1 end
    end
  end
  return n
end

describe("spec/contract/openapi/ (the extracted contract) #once", function()
  local sources = openapi.sources()

  it("says where it came from", function()
    assert.equal("api-evangelist/sendpulse", sources.repository)
    assert.equal("openapi", sources.folder)
    assert.equal("9fa7cb8", sources.commit)
    assert.equal("2026-08-22", sources.dated)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d$", sources.taken)
    assert.equal(19, #openapi.stems())
    for stem, f in pairs(sources.files) do
      assert.equal("sendpulse-" .. stem .. "-openapi.yml", f.file)
      assert.matches("^" .. ("%x"):rep(64) .. "$", f.sha256)
    end
  end)

  it("holds the 635 operations of the 19 files", function()
    local total = 0
    for _, stem in ipairs(openapi.stems()) do
      local n = count_operations(openapi.load(stem))
      assert.equal(sources.files[stem].operations, n, stem)
      total = total + n
    end
    assert.equal(635, total)
  end)

  it("marks JSON arrays, keeps JSON null apart, and gives a fresh copy on every load", function()
    local a, b = openapi.load("sms"), openapi.load("sms")
    assert.are_not.equal(a, b)
    local params = a.paths["/addressbooks/{id}/phone"].put.parameters
    assert.equal(openapi.ARRAY, getmetatable(params))
    assert.equal(0, #params)
    assert.equal("null", tostring(openapi.null))
    assert.has_error(function() openapi.load("../x") end,
      'contract.openapi.load: argument \'stem\' must be a file stem such as "bulk-email", got ../x')
  end)

  it("has no prose left: extracting it again changes nothing", function()
    if not (math.type and pcall(require, "yaml")) then
      pending("the extractor runs on Lua 5.3+ with lua-yaml")
      return
    end
    local extractor = require "tools.extract_contract"
    for _, stem in ipairs(openapi.stems()) do
      local tree = openapi.load(stem)
      local again, strays = extractor.extract(tree)
      assert.same(tree, again, stem)
      assert.same({}, strays, stem)
    end
  end)

  it("lists no known defect twice and only operations that exist", function()
    local index = require "sendpulse.api"
    for key in pairs(defects.requests) do
      local service, name = key:match("^([%w_]+):([%w_]+)$")
      assert.is_table(index.services[service], key)
      assert.is_table(require(index.services[service].module).operations[name], key)
    end
  end)
end)

describe("contract.openapi.document (what prism is given) #once", function()
  it("repairs exactly the known defects of each file", function()
    local seen = {}
    for _, stem in ipairs(openapi.stems()) do
      local _, applied = openapi.document(stem)
      assert.same(defects.repairs[stem] or {}, applied, stem)
      seen[stem] = true
    end
    for stem in pairs(defects.repairs) do assert.is_true(seen[stem], stem) end
  end)

  it("is a complete OpenAPI 3.1 document: versions, titles, response descriptions, every $ref resolves", function()
    for _, stem in ipairs(openapi.stems()) do
      local doc = openapi.document(stem)
      assert.matches("^3%.1%.%d+$", doc.openapi, 1, false)
      assert.is_string(doc.info.title)
      assert.is_string(doc.info.version)
      local refs = 0
      local function resolve(ref)
        local node = doc
        for part in ref:sub(3):gmatch("[^/]+") do
          part = part:gsub("~1", "/"):gsub("~0", "~")
          node = type(node) == "table" and node[part] or nil
        end
        return node
      end
      local function walk(v)
        if type(v) ~= "table" then return end
        if type(v["$ref"]) == "string" then
          refs = refs + 1
          assert.matches("^#/", v["$ref"])
          assert.is_table(resolve(v["$ref"]), stem .. ": " .. v["$ref"])
        end
        for _, x in pairs(v) do walk(x) end
      end
      walk(doc)
      for path, item in pairs(doc.paths) do
        for _, m in ipairs(openapi.METHODS) do
          for code, r in pairs(type(item[m]) == "table" and item[m].responses or {}) do
            assert(r["$ref"] or r.description == "", stem .. " " .. m .. " " .. path .. " " .. code)
          end
        end
      end
      if stem == "crm" then assert.is_true(refs > 100) end
    end
  end)

  it("puts the JSON encoder's null where the files have null, and leaves the extraction alone", function()
    local json = require "sendpulse.json"
    local found = 0
    local function walk(v)
      if v == json.null then found = found + 1 return end
      if type(v) == "table" then for _, x in pairs(v) do walk(x) end end
    end
    local doc = openapi.document("crm", { null = json.null })
    walk(doc)
    assert.is_true(found > 0)
    local again = openapi.load("crm")
    assert.is_nil(again.components.securitySchemes.oauth2)
  end)
end)

describe("calls SendPulse serves that the files miss #once", function()
  it("are still missing, so extra.lua still writes them by hand", function()
    local index = require "sendpulse.api"
    local present = {}
    for _, stem in ipairs(openapi.stems()) do
      local tree = openapi.load(stem)
      local base = tree.servers[1].url:match("^https?://[^/]+(/.*)$") or ""
      base = base:gsub("/$", "")
      for path, item in pairs(tree.paths) do
        for _, m in ipairs(openapi.METHODS) do
          if item[m] then present[m:upper() .. " " .. base .. path] = true end
        end
      end
    end
    for _, call in ipairs(defects.missing) do
      assert.is_nil(present[call], call .. " is in the files now: drop it from extra.lua and defects.lua")
    end
    assert.is_table(index.services.smtp)
  end)
end)

describe("the repository stands on its own #once", function()
  -- Built from parts so that this file does not name it itself.
  local BESIDE = ".." .. "/" .. "shared"

  local function tracked_files()
    local files = {}
    local p = io.popen("git ls-files -z 2>/dev/null")
    local out = p:read("*a")
    p:close()
    for f in out:gmatch("([^%z]+)") do files[#files + 1] = f end
    if #files == 0 then
      -- not a git checkout (a release archive): every file but the build
      p = io.popen("find . -type f -not -path './build/*' -not -path './.git/*'")
      for f in p:lines() do files[#files + 1] = f:gsub("^%./", "") end
      p:close()
    end
    return files
  end

  it("no file refers to a folder beside the repository (" .. BESIDE .. ")", function()
    local files = tracked_files()
    assert.is_true(#files > 100)
    local offenders = {}
    for _, path in ipairs(files) do
      local f = io.open(path, "rb")
      if f then
        local text = f:read("*a")
        f:close()
        if text:find(BESIDE, 1, true) then offenders[#offenders + 1] = path end
      end
    end
    assert.same({}, offenders)
  end)

  -- A merge whose conflict was committed as it was: luacheck does not see
  -- one inside a long string (it once sat in the CLI's usage text), nor do
  -- the docs' runners inside prose.
  it("no file holds a merge conflict's markers", function()
    local MARK = "\n" .. ("<"):rep(7) .. " "
    local offenders = {}
    for _, path in ipairs(tracked_files()) do
      local f = io.open(path, "rb")
      if f then
        local text = "\n" .. f:read("*a")
        f:close()
        if text:find(MARK, 1, true) or text:find("\n" .. (">"):rep(7) .. " ", 1, true) then
          offenders[#offenders + 1] = path
        end
      end
    end
    assert.same({}, offenders)
  end)

  it("the generators and the contract test read nothing outside it", function()
    for _, path in ipairs { "spec/tools/gen_api.lua", "spec/tools/gen_sandbox_examples.lua",
        "spec/contract/prism.lua", "spec/contract/openapi.lua", "spec/contract_spec.lua" } do
      local f = assert(io.open(path))
      local text = f:read("*a")
      f:close()
      assert.is_nil(text:find("SP_OPENAPI_DIR", 1, true), path)
      assert.is_nil(text:find("lyaml", 1, true), path)
    end
    assert.same({ "README.md" }, (function()
      local extra = {}
      local p = io.popen("ls " .. openapi.dir())
      for f in p:lines() do if not f:match("%.lua$") then extra[#extra + 1] = f end end
      p:close()
      return extra
    end)())
  end)
end)
