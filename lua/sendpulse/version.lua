-- The one place the release version is set (User-Agent, sendpulse._VERSION).
return "0.1.0"
