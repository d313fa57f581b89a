-- spec/tools/gen_api.lua on small hand-made OpenAPI files, taken through
-- the extractor as the real ones are: the parts the real files do not use
-- today ($ref parameters and request bodies, allOf, collisions) must still
-- come out right when SendPulse starts using them.

local has_53 = math.type ~= nil and pcall(require, "yaml")

local FIXTURE = [[
openapi: 3.1.0
info:
  title: Fixture
  version: 1.0.0
servers:
  - url: https://api.sendpulse.com/fix/v1/
paths:
  /lists/{listId}/items:
    parameters:
      - $ref: '#/components/parameters/ListId'
    get:
      operationId: getListItems
      summary: Items
      parameters:
        - $ref: '#/components/parameters/Limit'
        - name: offset
          in: query
          schema:
            type: integer
        - name: state
          in: query
          required: true
          schema:
            type: string
            enum: [on, off]
      responses:
        '200':
          description: ok
    post:
      operationId: addListItems
      requestBody:
        $ref: '#/components/requestBodies/Items'
      responses:
        '200':
          description: ok
  /report:
    get:
      operationId: getHTTPReport
      responses:
        '200':
          description: a file
          content:
            text/csv:
              schema:
                type: string
  /messages:
    post:
      operationId: sendMessage
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [template]
              properties:
                template:
                  type: object
                  required: [language]
                  properties:
                    language:
                      type: object
                      required: [code]
                      properties:
                        code:
                          type: string
                          minLength: 2
                          maxLength: 5
                    components:
                      type: array
                      maxItems: 10
                      items:
                        type: object
                        properties:
                          type:
                            type: string
                            enum: [header, body]
                          parameters:
                            type: array
                            items:
                              type: object
                              properties:
                                count:
                                  type: integer
                                  minimum: 1
                                  maximum: 9
                                sent_at:
                                  type: string
                                  format: date-time
                                note:
                                  description: declares nothing to check
                    any:
                      description: nothing either
      responses:
        '200':
          description: ok
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                files:
                  type: array
                  items:
                    type: string
                    format: binary
                name:
                  type: string
                  maxLength: 10
      responses:
        '200':
          description: ok
  /tags:
    put:
      operationId: putTags
      requestBody:
        content:
          application/json:
            schema:
              type: array
              items:
                type: object
                required: [name]
                properties:
                  name:
                    type: string
      responses:
        '200':
          description: ok
components:
  parameters:
    ListId:
      name: listId
      in: path
      required: true
      schema:
        type: integer
    Limit:
      name: limit
      in: query
      schema:
        type: integer
        maximum: 100
  requestBodies:
    Items:
      required: true
      content:
        application/json:
          schema:
            allOf:
              - $ref: '#/components/schemas/Base'
              - type: object
                required: [items]
                properties:
                  items:
                    type: array
                    items:
                      type: string
                      format: email
                  tags:
                    type: array
          examples:
            broken:
              value:
                name: x
                items: not-an-array
            good:
              value:
                name: From the file
                items: [a@example.com]
                tags: []
  schemas:
    Base:
      type: object
      required: [name]
      properties:
        name:
          type:
            - string
            - 'null'
]]

-- #once: the generator is a Lua 5.4 tool, not the library: one plain pass.
describe("gen_api on a hand-made file #once", function()
  if not has_53 then
    it("needs Lua 5.3+ and lua-yaml", function() pending("the generator runs on Lua 5.3+ with lua-yaml") end)
    return
  end
  local gen = require "tools.gen_api"
  local extractor = require "tools.extract_contract"

  local function load(text)
    local tree = extractor.extract(extractor.read_yaml(text))
    return gen.load_service("email", "bulk-email", tree)
  end

  it("turns operationIds into snake_case names", function()
    assert.equal("create_mailing_list", gen.snake("createMailingList"))
    assert.equal("get_sms_campaigns", gen.snake("getSMSCampaigns"))
    assert.equal("get_http_report", gen.snake("getHTTPReport"))
    assert.equal("un_assign", gen.snake("unAssign"))
    assert.equal("get_v2_items", gen.snake("getV2Items"))
  end)

  it("takes the base path from servers, without a trailing slash", function()
    local svc = load(FIXTURE)
    assert.equal("/fix/v1", svc.base)
    assert.equal(6, svc.count)
  end)

  it("resolves $ref parameters, path-level ones included", function()
    local op = load(FIXTURE).operations.get_list_items
    assert.same({ { name = "listId", type = "integer", required = true } }, op.path_params)
    assert.same({
      { name = "limit", type = "integer", maximum = 100 },
      { name = "offset", type = "integer" },
      { name = "state", type = "string", required = true, enum = { "on", "off" } },
    }, op.query)
    assert.equal("limit_offset", op.paging)
    assert.same({ listId = 1, state = "on" }, op.example)
  end)

  it("resolves $ref request bodies and merges allOf", function()
    local op = load(FIXTURE).operations.add_list_items
    assert.same({
      content = "json", required = true, type = "object",
      fields = {
        { name = "items", type = "array", required = true, items = { type = "string", format = "email" } },
        { name = "name", type = "string", nullable = true, required = true },
        { name = "tags", type = "array" },
      },
    }, op.body)
  end)

  it("uses the first file example that fits its schema, an empty array included", function()
    local op = load(FIXTURE).operations.add_list_items
    -- "broken" sorts first but items is not an array; "good" fits; its
    -- empty tags stays (the method sends it as [], tags being an array)
    assert.same({ listId = 1, name = "From the file", items = { "a@example.com" }, tags = {} }, op.example)
  end)

  it("gives an array body as args.body, its items described", function()
    local op = load(FIXTURE).operations.put_tags
    assert.is_true(op.body.raw)
    assert.equal("array", op.body.type)
    assert.same({ type = "object", fields = { { name = "name", type = "string", required = true } } },
      op.body.items)
    assert.same({ { name = "example" } }, op.example.body)
  end)

  it("describes nested fields as deep as the schema: required, enums, bounds, checked formats", function()
    local op = load(FIXTURE).operations.send_message
    assert.same({ {
      name = "template", type = "object", required = true,
      fields = {
        { name = "components", type = "array", max_items = 10, items = {
          type = "object",
          fields = {
            { name = "parameters", type = "array", items = {
              type = "object",
              fields = {
                { name = "count", type = "integer", minimum = 1, maximum = 9 },
                -- date-time is not checked (SendPulse's calls write dates their own ways)
                { name = "sent_at", type = "string" },
              },
            } },
            { name = "type", type = "string", enum = { "header", "body" } },
          },
        } },
        { name = "language", type = "object", required = true, fields = {
          { name = "code", type = "string", required = true, min_length = 2, max_length = 5 },
        } },
      },
    } }, op.body.fields)
  end)

  it("keeps an upload's fields to their types (a file stands for a string)", function()
    local op = load(FIXTURE).operations.upload
    assert.same({ { name = "files", type = "array" }, { name = "name", type = "string" } }, op.body.fields)
  end)

  it("records the content type of an answer that is not JSON", function()
    assert.equal("text/csv", load(FIXTURE).operations.get_http_report.accept)
  end)

  it("refuses two operations with one name, pointing at RENAMES", function()
    local text = FIXTURE:gsub("operationId: putTags", "operationId: addListItems")
    local ok, err = pcall(load, text)
    assert.is_false(ok)
    assert.matches("operation name add_list_items is used by", err, 1, true)
    assert.matches("RENAMES", err, 1, true)
  end)

  it("refuses an operation without operationId that RENAMES does not name", function()
    local text = FIXTURE:gsub("      operationId: putTags\n", "")
    local ok, err = pcall(load, text)
    assert.is_false(ok)
    assert.matches("email PUT /tags has no operationId", err, 1, true)
  end)

  it("writes Lua with sorted keys and integers as integers", function()
    assert.equal('{ a = 1, b = 2.5, ["c d"] = "x\\n", ["end"] = true }',
      gen.to_lua({ ["end"] = true, b = 2.5, a = 1, ["c d"] = "x\n" }))
  end)
end)
