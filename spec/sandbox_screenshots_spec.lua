-- Issue 20: the screenshots in docs/sandbox.md come from a fixed script
-- (make screenshots, spec/tools/sandbox_screenshots.lua): rebuilding them
-- works and gives pictures of the committed ones' kind and size. Not
-- pixel equality: the list shows the run's own times. #once: it drives
-- make and a browser.
local sys = require "support.sys"

-- Width and height of a PNG file (its IHDR chunk), or nil.
local function png_size(path)
  local data = sys.read_file(path)
  if data:sub(1, 8) ~= "\137PNG\r\n\26\n" or data:sub(13, 16) ~= "IHDR" then return nil end
  local function u32(i)
    local a, b, c, d = data:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32(17), u32(21), #data
end

describe("the sandbox's screenshots #once", function()
  it("are rebuilt by make screenshots, as PNGs of the committed ones' size", function()
    local p = io.popen("mktemp -d")
    local dir = p:read("*l")
    p:close()
    local ok, out = sys.run("make --no-print-directory screenshots SCREENSHOT_DIR=" .. sys.shell_quote(dir))
    assert(ok, out)
    for _, name in ipairs { "sandbox-messages.png", "sandbox-message.png" } do
      local w, h, bytes = png_size(dir .. "/" .. name)
      local cw, ch = png_size("docs/img/" .. name)
      assert.is_not_nil(w, name .. " is not a PNG")
      assert.is_not_nil(cw, "docs/img/" .. name .. " is not a PNG")
      assert.same({ cw, ch }, { w, h })
      -- a page with text and tables, not a blank one (a white 1280 x 900
      -- PNG is a few KB)
      assert.is_true(bytes > 20000, name .. " is only " .. bytes .. " bytes")
      assert.matches("(img/" .. name .. ")", sys.read_file("docs/sandbox.md"), 1, true)
    end
    os.execute("rm -rf " .. sys.shell_quote(dir))
  end)
end)
