--- require "sendpulse.client": the client object (see pipeline.lua, where
-- it is made, and async.lua, its non-blocking methods).
return require "sendpulse.client.pipeline"
