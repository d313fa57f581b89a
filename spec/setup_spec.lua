-- .ci/setup: `quick` (the README's first command, before `make quickstart`)
-- installs a handful of Debian packages and nothing else: it never runs npm
-- (prism) nor fetches the fuzzers' Lua tarball, which only the tests need;
-- without an argument (what .ci/run uses) it still does both. Traced with
-- `sh -x` on this machine, where the packages are installed, so apt is
-- only asked what is there.
--
-- Tagged #once: it runs the setup script, which the valgrind and LuaJIT
-- passes would only repeat.
local sys = require "support.sys"

describe(".ci/setup #once", function()
  it("quick: the packages make quickstart needs, no npm and no download; the README's first command uses it",
    function()
    local ok, trace = sys.run("sh -x .ci/setup quick")
    assert(ok, trace)
    -- (sh -x writes "+ " before each command it runs)
    for _, word in ipairs { "install-prism.sh", "fetch-lua.sh", "+ npm", "+ node", "+ curl", "+ wget" } do
      assert.is_nil(trace:find(word, 1, true), "quick setup ran " .. word .. ":\n" .. trace)
    end
    -- it stopped after the packages, on purpose
    assert.matches("\n%+ exit 0\n?$", trace)
    local readme = sys.read_file("README.md")
    local first = readme:match("\n```sh\n([^\n]*)\n")
    assert.matches("^sh %.ci/setup quick && make quickstart ", first)
  end)

  it("without an argument still installs what the tests need: prism and the fuzzers' Lua", function()
    -- read, not run: the full setup is .ci/run's first step
    local text = sys.read_file(".ci/setup")
    local full = text:match('\n%[ "%$quick" = no %] || exit 0\n(.*)$')
    assert(full, ".ci/setup no longer stops the quick setup before the tests' part")
    assert.matches("install-prism.sh", full, 1, true)
    assert.matches("fetch-lua.sh", full, 1, true)
    assert.matches('sh "$src/.ci/setup"\n', sys.read_file(".ci/run"), 1, true)
    local ok, out = sys.run("sh .ci/setup bogus")
    assert.is_false(ok)
    assert.matches("usage: sh .ci/setup [quick]", out, 1, true)
  end)
end)
