-- The known defects of SendPulse's OpenAPI files (as extracted into
-- spec/contract/openapi/), each one asserted by the suite, so that a newer
-- copy of the files that fixes one fails its test until the entry goes:
--
--   repairs    spec/contract_data_spec.lua: contract.openapi.document()
--              makes exactly these repairs, file by file, to get a document a
--              tool can read;
--   requests   spec/contract_spec.lua: prism refuses the operation's request
--              with exactly these violations (no request can satisfy them);
--   missing    spec/contract_data_spec.lua: calls SendPulse serves that no
--              file has (lua/sendpulse/api/extra.lua writes them by hand).
--
-- Stray keys the extractor dropped (a property indented one level too far,
-- `OneOf` for `oneOf`) are listed per file in openapi/sources.lua; the
-- operations whose names gen_api.lua settles by hand are its RENAMES.

local NO_ENTITY = { why = "declares path parameters entityType and entityId, which the path lacks",
  violations = { "'entitytype'", "'entityid'" } }
local NO_ATTRIBUTE = { why = "the path has {attribute}, the file declares attributeId",
  violations = { "'attributeid'" } }
local NO_MESSAGE = { why = "the body requires a property 'message' it never declares (its examples send 'messages')",
  violations = { "'message'" } }
-- The chatbot files define their OAuth scheme as "outh2" and use "oauth2"
-- (and some "oAuth2ClientCredentials").
local OUTH2 = { undefined_security_schemes = { "oauth2" } }
local OUTH2_CHATBOT = { undefined_security_schemes = { "oAuth2ClientCredentials", "oauth2" } }

return {
  repairs = {
    -- refers to #/components/schemas/Error and never defines it; the repair
    -- adds {message: string, error_code: integer}, the real shape
    ["bulk-email"] = { missing_error_schema = true },
    -- security schemes used and never defined: defined as HTTP bearer, what
    -- SendPulse checks (otherwise prism answers 401 to every call)
    chatbots = OUTH2_CHATBOT,
    facebook = OUTH2_CHATBOT,
    instagram = OUTH2_CHATBOT,
    ["live-chat"] = OUTH2_CHATBOT,
    telegram = OUTH2_CHATBOT,
    tiktok = OUTH2_CHATBOT,
    ["viber-chatbot"] = OUTH2_CHATBOT,
    whatsapp = OUTH2_CHATBOT,
    crm = OUTH2,
    edu = OUTH2,
    ["file-manager"] = OUTH2,
    popups = OUTH2,
  },

  -- service:operation -> { why, violations }: every violation prism reports
  -- contains one of `violations`, and each of them is reported.
  requests = {
    ["crm:create_company_email"] = NO_ENTITY,
    ["crm:create_company_messenger"] = NO_ENTITY,
    ["crm:delete_company_messenger"] = NO_ENTITY,
    ["crm:delete_company_phone"] = NO_ENTITY,
    ["crm:get_company_emails"] = NO_ENTITY,
    ["crm:update_company_messenger"] = NO_ENTITY,
    ["crm:update_company_phone"] = NO_ENTITY,
    ["crm:delete_company_attribute"] = NO_ATTRIBUTE,
    ["crm:update_company_attribute"] = NO_ATTRIBUTE,
    -- AddEmailsSingleOptIn and AddEmailsDoubleOptIn both match any body, so
    -- "must match exactly one schema in oneOf" can never hold
    ["email:add_emails_to_mailing_list"] = { why = "a oneOf whose two branches both match any body",
      violations = { "exactly one schema in oneOf" } },
    ["instagram:send_message_to_contact"] = NO_MESSAGE,
    ["live_chat:send_contact_message"] = NO_MESSAGE,
    ["tiktok:send_contact_message"] = NO_MESSAGE,
    ["viber_bots:send_contact_message"] = NO_MESSAGE,
    ["messenger:send_text_to_contact"] = { why = "the body requires a property 'tag' it never declares",
      violations = { "'tag'" } },
    -- the same in the CRM file: 'emails' and 'attributesValues' are declared,
    -- 'email' and 'attributeId' + 'value' required at the top
    ["crm:add_contact_emails"] = { why = "the body requires a property 'email' it never declares",
      violations = { "'email'" } },
    ["crm:batch_store_contact_attribute_values"] = {
      why = "the body requires properties 'attributeId' and 'value' it never declares",
      violations = { "'attributeId'", "'value'" } },
    -- Not the file's defect but prism's: its multipart parser never yields an
    -- array for parts named "content[]" (one part or several, as curl -F
    -- sends them too), so the array the file asks for cannot be given.
    ["files:upload_file"] = { why = "prism cannot read repeated multipart parts content[] as an array",
      violations = { "content[] must be array" } },
    ["crm:upload_files"] = { why = "prism cannot read repeated multipart parts files[] as an array",
      violations = { "files[] must be array" } },
  },

  -- "METHOD /path" (with the service's base path) of calls no file has
  missing = {
    "POST /oauth/access_token",          -- the token endpoint (lua/sendpulse/client/pipeline.lua calls it)
    "POST /events/name/{eventName}",     -- Automation 360 events: extra.lua automation360:send_event
    "GET /smtp/domains",                 -- the legacy SMTP domain calls: extra.lua smtp:*_domain(s)
    "POST /smtp/domains",
    "GET /smtp/domains/{email}",
  },
}
