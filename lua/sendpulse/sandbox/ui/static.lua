-- The pages' only script and style sheet, served from this origin (the
-- pages' CSP allows nothing else). The script does one thing: on the
-- first page of the message list, it listens to /_sandbox/ui/events and
-- swaps in the new rows (server-rendered, escaped) when messages arrive.
-- Everything works without it; a reload shows the same.
local html = require "sendpulse.sandbox.ui.html"

local _M = {}

_M.JS = [[
"use strict";
(function () {
  var live = document.body.getAttribute("data-live");
  var rows = document.getElementById("rows");
  var status = document.getElementById("live-status");
  if (!live || !rows || !window.EventSource) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(live, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (text) {
      if (text !== null) {
        rows.innerHTML = text;
        var m = text.match(/<!--total:(\d+)-->/);
        if (status && m) status.textContent = "Updated: " + m[1] + " messages.";
      }
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  // the version this page shows: the stream then tells of anything sent
  // since, even before it opened (ui/live.lua)
  var version = document.body.getAttribute("data-version");
  var source = new EventSource("]] .. html.BASE .. [[/events" +
    (/^[0-9]+$/.test(version || "") ? "?since=" + version : ""));
  source.addEventListener("messages", refresh);
})();
]]

_M.CSS = [[
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0a58ca; --bg: #fff; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .5rem 1rem;
  background: #0b2942; color: #fff; }
header .brand { font-weight: 700; }
header ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
header a { color: #dbe9ff; }
header a[aria-current="page"] { color: #fff; font-weight: 700; text-decoration-thickness: 3px; }
main { padding: 1rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, summary:focus, iframe:focus, main:focus {
  outline: 3px solid #f59e0b; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; color: #000; padding: .25rem .5rem; z-index: 2; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead th { background: var(--soft); }
td.empty, .empty { color: var(--muted); }
.note { color: var(--muted); }
form.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .5rem; }
input, select, button { font: inherit; padding: .25rem .5rem; }
button { cursor: pointer; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
ul.tabs { display: flex; flex-wrap: wrap; gap: .5rem 1rem; list-style: none; padding: 0; }
iframe { width: 100%; height: 360px; border: 1px solid var(--line); background: #fff; }
pre { background: var(--soft); padding: .75rem; overflow: auto; max-height: 480px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.var { display: inline-block; background: var(--soft); padding: 0 .3rem; margin: 0 .2rem .2rem 0; }
article.delivery { border-top: 2px solid var(--line); margin-top: 1rem; }
.done { background: #e6f4ea; padding: .5rem; }
.ok { color: #1a7f37; }
]]

function _M.js()
  return html.answer(200, _M.JS, "text/javascript; charset=utf-8")
end

function _M.css()
  return html.answer(200, _M.CSS, "text/css; charset=utf-8")
end

return _M
