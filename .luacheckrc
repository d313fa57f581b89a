-- luacheck configuration (make lint; counted in make check).
std = "max"
self = false            -- methods need not use self
max_line_length = 120
files["spec"] = { std = "+busted" }
exclude_files = { "build", "lua/sendpulse/api/*.lua" }
