#!/bin/sh
# Fetches the Lua 5.4 source the fuzzers link with, from Debian's archive,
# and checks it against the checksum of Debian's source package
# (lua5.4_5.4.4-3+deb12u1.dsc, Checksums-Sha256). Then unpacks it.
#
#   sh spec/fuzz/fetch-lua.sh DIR    ->  DIR/lua-5.4.4/src/...
#
# LUA_SRC_URL overrides where the tarball comes from (a mirror, or a file://
# URL of a copy); the checksum is checked whatever the source. Nothing is
# unpacked from a tarball that fails it.
set -eu
DIR=${1:?usage: fetch-lua.sh DIR}
NAME=lua5.4_5.4.4.orig.tar.gz
SHA256=164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61
URL=${LUA_SRC_URL:-http://deb.debian.org/debian/pool/main/l/lua5.4/$NAME}

mkdir -p "$DIR"
if [ -d "$DIR/lua-5.4.4/src" ]; then exit 0; fi
if [ ! -f "$DIR/$NAME" ]; then
  echo "fetching $URL"
  curl -fsS --retry 3 --max-time 120 -o "$DIR/$NAME.part" "$URL"
  mv "$DIR/$NAME.part" "$DIR/$NAME"
fi
if ! echo "$SHA256  $DIR/$NAME" | sha256sum -c --quiet -; then
  echo "$DIR/$NAME does not match the checksum of Debian's lua5.4 5.4.4 source: removed" >&2
  rm -f "$DIR/$NAME"
  exit 1
fi
tar -xzf "$DIR/$NAME" -C "$DIR"
