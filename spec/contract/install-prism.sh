#!/bin/sh
# Installs prism (npm package @stoplight/prism-cli) and the OpenAPI schema
# validator (@seriousme/openapi-schema-validator), the versions pinned with
# all their dependencies in spec/contract/npm/package-lock.json, into
# build/prism, for spec/contract_spec.lua. Needs node and npm. Does nothing
# when that exact lock is already installed.
#
#   sh spec/contract/install-prism.sh
set -eu
cd "$(dirname "$0")/../.."
dest=build/prism
if [ -x "$dest/node_modules/.bin/prism" ] && cmp -s spec/contract/npm/package-lock.json "$dest/package-lock.json"; then
  exit 0
fi
mkdir -p "$dest"
cp spec/contract/npm/package.json spec/contract/npm/package-lock.json "$dest/"
cd "$dest"
npm ci --no-audit --no-fund --loglevel=error
./node_modules/.bin/prism --version >/dev/null
