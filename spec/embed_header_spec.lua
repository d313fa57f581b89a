-- A C host includes csrc/sendpulse_core.h for luaopen_sendpulse_core
-- (docs/loops.md, "Embedding in a C host"): the page's C block, given a
-- main(), compiles with every warning an error (an undeclared function
-- among them), links with the flags the page shows, and its core answers.
-- docs_spec.lua runs the page's shell lines (examples/host/host.c, built
-- the same way).
--
-- Tagged #once: it runs the compiler and make, which the valgrind and
-- LuaJIT passes would only repeat.
local docs = require "support.docs"
local sys = require "support.sys"

local q = sys.shell_quote

describe("the C core's header #once", function()
  it("declares luaopen_sendpulse_core for the C block of docs/loops.md, built with the flags shown there", function()
    local blocks = docs.section_blocks("docs/loops.md", "Embedding in a C host", "c")
    assert.equal(1, #blocks, "docs/loops.md should have one ```c block")
    local includes, body = {}, {}
    for line in (blocks[1] .. "\n"):gmatch("(.-)\n") do
      if line:match("^#include") then includes[#includes + 1] = line else body[#body + 1] = line end
    end
    assert.matches('#include "sendpulse_core.h"', table.concat(includes, "\n"), 1, true)
    -- the block, then a call through the core it registered, and the state closed
    local program = table.concat(includes, "\n") .. "\n#include <stdio.h>\n\nint main(void)\n{\n"
      .. table.concat(body, "\n") .. "\n"
      .. '    if (luaL_dostring(L, "return require(\'sendpulse.core\').urlencode(\'a b\')") != LUA_OK) {\n'
      .. '        fprintf(stderr, "%s\\n", lua_tostring(L, -1));\n        return 1;\n    }\n'
      .. '    printf("%s\\n", lua_tostring(L, -1));\n    lua_close(L);\n    return 0;\n}\n'
    local dir = io.popen("mktemp -d"):read("*l")
    sys.write_file(dir .. "/host.c", program)
    local ok, out = sys.run("make --no-print-directory static LUA_IMPL=lua5.4")
    assert(ok, out)
    -- the page's line for examples/host/host.c, with this program in its place
    local line
    for _, l in ipairs(docs.shell_lines(docs.section_blocks("docs/loops.md", "Embedding in a C host", "sh")[1])) do
      if l.text:match("^cc ") then line = l.text end
    end
    assert(line, "docs/loops.md shows no cc line")
    line = line:gsub("examples/host/host%.c build/lua5%.4/sendpulse_embedded%.c", q(dir .. "/host.c"), 1)
      :gsub("%-o %S+", "-o " .. q(dir .. "/host"), 1)
    ok, out = sys.run(line .. " -Wall -Wextra -Werror -Wno-unused-parameter")
    assert(ok, line .. "\n" .. out)
    ok, out = sys.run(q(dir .. "/host"))
    assert(ok, out)
    assert.equal("a%20b\n", out)
    os.execute("rm -rf " .. q(dir))
  end)
end)
