// Checks OpenAPI documents against the specification's JSON Schemas (npm
// @seriousme/openapi-schema-validator, pinned in spec/contract/npm/), for
// spec/contract_spec.lua: the documents prism is given must be valid OpenAPI.
//
//   node spec/contract/validate-openapi.mjs FILE.json...
//
// Prints one line per file, "ok FILE" or "invalid FILE: <the first errors>",
// and exits 1 when any is invalid. spec/contract/install-prism.sh installs
// the package into build/prism; the import is resolved from there.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const here = path.dirname(new URL(import.meta.url).pathname);
const modules = process.env.SP_PRISM_MODULES || path.join(here, "../../build/prism/node_modules");
const require = createRequire(path.join(modules, "index.js"));
const { Validator } = await import(require.resolve("@seriousme/openapi-schema-validator"));

let bad = 0;
for (const file of process.argv.slice(2)) {
  const result = await new Validator().validate(JSON.parse(fs.readFileSync(file, "utf8")));
  if (result.valid) {
    console.log("ok " + file);
  } else {
    bad++;
    const errors = Array.isArray(result.errors)
      ? result.errors.slice(0, 5).map((e) => (e.instancePath || "/") + " " + e.message).join("; ")
      : String(result.errors);
    console.log("invalid " + file + ": " + errors);
  }
}
process.exit(bad > 0 ? 1 : 0);
