-- spec/tools/extract_contract.lua on a small hand-made OpenAPI file: what
-- it keeps (the contract, examples verbatim), what it drops (prose, x-*,
-- stray keys, each stray one reported), how it reads YAML, and that what it
-- writes reads back the same through contract.openapi.

local has_yaml = math.type ~= nil and pcall(require, "yaml")

local FIXTURE = [[
openapi: 3.1.0
info:
  title: Fixture
  version: 1.0.0
  description: Long prose about the API.
  x-ai-description: More prose.
  license:
    name: MIT
servers:
  - url: https://api.sendpulse.com/fix/v1/
    description: production
tags:
  - name: Lists
    description: Prose.
paths:
  x-path-note: prose
  /lists/{listId}:
    summary: prose of the path item
    parameters:
      - name: listId
        in: path
        required: true
        description: The list.
        schema:
          type: integer
    post:
      operationId: updateList
      summary: Update a list
      description: Prose.
      tags: [Lists]
      x-ai-role: prose
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              title: A title is prose
              required: [name]
              properties:
                name:
                  type: string
                  description: The name.
                description:
                  type: string
                state:
                  type: string
                  enum: [on, off, '012', 012]
                tags:
                  type: array
                  items: {}
                  default: []
                nested:
                  type: object
                  sub_type:
                    type: string
            examples:
              plain:
                summary: An example
                value:
                  name: List
                  description: a field named description is data
                  x-note: example data is kept as it is
                  state: on
                  tags: []
                  nested: {}
                  gone: ~
      responses:
        200:
          description: OK
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Answer'
              type: object
        '404':
          description: Not found
        x-ai-note: prose
components:
  schemas:
    Answer:
      type: object
      description: Prose.
      properties:
        result:
          type: boolean
  securitySchemes:
    oauth2:
      type: oauth2
      description: Prose.
      flows:
        clientCredentials:
          tokenUrl: https://api.sendpulse.com/oauth/access_token
          scopes:
            read: read everything
]]

-- #once: the extractor is a Lua 5.4 tool, not the library: one plain pass.
describe("extract_contract on a hand-made file #once", function()
  if not has_yaml then
    it("needs Lua 5.3+ and lua-yaml", function() pending("the extractor runs on Lua 5.3+ with lua-yaml") end)
    return
  end
  local extractor = require "tools.extract_contract"
  local openapi = require "contract.openapi"
  local luadata = require "tools.luadata"
  local null = openapi.null

  local function extract(text)
    return extractor.extract(extractor.read_yaml(text or FIXTURE))
  end

  it("keeps the contract and drops every description, title, tag, x-* key and other prose", function()
    local c = extract()
    assert.same({ title = "Fixture", version = "1.0.0" }, c.info)
    assert.same({ { url = "https://api.sendpulse.com/fix/v1/" } }, c.servers)
    assert.is_nil(c.tags)
    assert.is_nil(c.paths["x-path-note"])
    local item = c.paths["/lists/{listId}"]
    assert.is_nil(item.summary)
    assert.same({ { name = "listId", ["in"] = "path", required = true, schema = { type = "integer" } } },
      item.parameters)
    local op = item.post
    assert.equal("updateList", op.operationId)
    assert.equal("Update a list", op.summary)
    assert.is_nil(op.description)
    assert.is_nil(op.tags)
    assert.is_nil(op["x-ai-role"])
    local schema = op.requestBody.content["application/json"].schema
    assert.is_nil(schema.title)
    assert.same({ type = "string" }, schema.properties.name)
    -- a property named "description" is contract, not prose
    assert.same({ type = "string" }, schema.properties.description)
    assert.same({ "200", "404" }, luadata.sorted_keys(op.responses))
    assert.same({}, op.responses["404"])
    assert.is_nil(c.components.schemas.Answer.description)
    assert.is_nil(c.components.securitySchemes.oauth2.description)
    -- OAuth scope names stay, their descriptions go
    assert.same({ read = "" }, c.components.securitySchemes.oauth2.flows.clientCredentials.scopes)
  end)

  it("keeps examples verbatim, nulls and empty arrays included", function()
    local c = extract()
    local media = c.paths["/lists/{listId}"].post.requestBody.content["application/json"]
    assert.same({ "plain" }, luadata.sorted_keys(media.examples))
    assert.is_nil(media.examples.plain.summary)
    local v = media.examples.plain.value
    assert.equal("a field named description is data", v.description)
    assert.equal("example data is kept as it is", v["x-note"])
    assert.equal(null, v.gone)
    assert.equal(openapi.ARRAY, getmetatable(v.tags))
    assert.is_nil(getmetatable(v.nested))
  end)

  it("reads YAML 1.2 scalars, not YAML 1.1 ones, and keeps map keys as strings", function()
    local c = extract()
    local state = c.paths["/lists/{listId}"].post.requestBody.content["application/json"].schema.properties.state
    assert.same({ "on", "off", "012", 12 }, state.enum)
    local s = extractor.core_scalar
    assert.equal("no", s("no"))
    assert.equal(true, s("true"))
    assert.equal(16, s("0x10"))
    assert.equal("1_000", s("1_000"))
    assert.equal(1000.0, s("1e3"))
    assert.equal("float", math.type(s("1e3")))
    assert.equal(null, s("~"))
    assert.equal("2020-12-11", s("2020-12-11"))
    assert.is_string(next(c.paths["/lists/{listId}"].post.responses))
  end)

  it("drops stray keys and reports each by its JSON pointer", function()
    local _, strays = extract()
    assert.same({
      "/paths/~1lists~1{listId}/post/requestBody/content/application~1json/schema/properties/nested/sub_type",
      "/paths/~1lists~1{listId}/post/responses/200/content/application~1json/type",
    }, strays)
  end)

  it("is idempotent: extracting an extraction changes nothing", function()
    local c = extract()
    local again, strays = extractor.extract(c)
    assert.same(c, again)
    assert.same({}, strays)
  end)

  it("writes a file that contract.openapi reads back as the same tree", function()
    local c = extract()
    local text = extractor.contract_file("sendpulse-fixture-openapi.yml", "a test", c)
    assert.equal("-- generated by spec/tools/extract_contract.lua from sendpulse-fixture-openapi.yml; do not edit.",
      text:match("^[^\n]*"))
    assert.matches("array{}", text, 1, true)
    assert.matches("gone = null", text, 1, true)
    local env = { null = null, array = openapi.array }
    local back = assert(load(text, "=fixture", "t", env))()
    assert.same(c, back)
    assert.equal(null, back.paths["/lists/{listId}"].post.requestBody.content["application/json"]
      .examples.plain.value.gone)
  end)

  it("refuses YAML it cannot represent, naming the problem", function()
    local ok, err = pcall(extractor.read_yaml, "a: [1, 2\n")
    assert.is_false(ok)
    assert.matches("^extract_contract: YAML: ", err)
    ok, err = pcall(extractor.read_yaml, "a: &x {b: 1}\n<<: *x\n")
    assert.is_false(ok)
    assert.matches("merge keys", err, 1, true)
  end)
end)

describe("spec/tools/extract_contract.lua as a command #once", function()
  local lua = os.getenv("SP_GEN_LUA") or "lua5.4"

  local function run(args)
    local p = io.popen(lua .. " spec/tools/extract_contract.lua " .. args .. " 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    return out
  end

  it("insists on knowing where the files come from", function()
    local out = run("/nonexistent")
    assert.matches("rc=2", out, 1, true)
    assert.matches("--commit (hex) and --dated (YYYY-MM-DD)", out, 1, true)
  end)

  it("extracts a folder, and --check compares it with the committed extraction", function()
    if not has_yaml then pending("needs Lua 5.3+ and lua-yaml") return end
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local f = assert(io.open(dir .. "/sendpulse-sms-openapi.yml", "w"))
    f:write(FIXTURE)
    f:close()
    -- --check against the committed extraction: this folder differs
    local out = run("--check " .. dir)
    os.execute("rm -rf " .. dir)
    assert.matches("rc=1", out, 1, true)
    assert.matches("spec/contract/openapi/sms.lua", out, 1, true)
  end)
end)
