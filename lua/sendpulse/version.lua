-- The one place the version is set: the Makefile passes it to the C core,
-- which must match (a stale core.so is refused at require time).
return "0.1.0"
