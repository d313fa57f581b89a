-- Hand-written operations: calls of the SendPulse API that the OpenAPI files
-- miss. Same record shape as the generated files (see REFERENCE.md), merged
-- into the service tables by sendpulse.operations; spec/tools/gen_api.lua
-- lists them in the reference and refuses a name that the files already use.
--
-- Left out on purpose: POST /oauth/access_token, which the client calls
-- itself to get its token.
return {
  automation360 = {
    operations = {
      -- Starts the automations listening for the event. The body holds
      -- email and/or phone plus any event variables (passed on as given),
      -- and optionally automation_id. Answer {"result": true}.
      send_event = {
        name = "send_event",
        method = "POST",
        path = "/events/name/{eventName}",
        summary = "Send an event to Automation 360",
        path_params = {
          { name = "eventName", type = "string", required = true },
        },
        body = {
          content = "json",
          required = true,
          type = "object",
          fields = {
            { name = "automation_id", type = "integer" },
            { name = "email", type = "string" },
            { name = "phone", type = "string" },
          },
        },
        example = { eventName = "order_paid", email = "user@example.com", phone = "380931234567" },
      },
    },
  },
  smtp = {
    -- The SMTP domain calls of SendPulse's older wrappers (PHP smtpListAllowedDomains,
    -- smtpAddDomain, smtpVerifyDomain); the files only describe the v2 sender_domains calls.
    operations = {
      list_domains = {
        name = "list_domains",
        method = "GET",
        path = "/smtp/domains",
        summary = "Get the list of allowed domains (legacy call)",
        example = {},
      },
      add_domain = {
        name = "add_domain",
        method = "POST",
        path = "/smtp/domains",
        summary = "Add a domain, given an address on it that receives the confirmation email (legacy call)",
        body = {
          content = "json",
          required = true,
          type = "object",
          fields = {
            { name = "email", type = "string", required = true },
          },
        },
        example = { email = "postmaster@example.com" },
      },
      verify_domain = {
        name = "verify_domain",
        method = "GET",
        path = "/smtp/domains/{email}",
        summary = "Send the confirmation email for a domain added with add_domain (legacy call)",
        path_params = {
          { name = "email", type = "string", required = true },
        },
        example = { email = "postmaster@example.com" },
      },
    },
  },
}
