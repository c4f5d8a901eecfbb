#!/bin/sh
# The workerd that the workerd tests run: miniflare's binary and arguments, with V8 flags added to the config it
# pipes in (v8-flags.ts). exec keeps the pid, so miniflare's SIGKILL still reaches workerd itself.
#
# --single-threaded-gc: on a 2-core machine V8 has one background thread, and workerd live-locked with the main
# thread waiting for a concurrent sweep that thread could never run (docs/RELIABILITY.md).
set -eu
here=$(dirname "$0")
config=$(mktemp)
"$here/../../node_modules/.bin/tsx" "$here/rewrite-config.ts" --single-threaded-gc > "$config"
exec < "$config"
rm -f "$config"
exec "$EDGE_CLIP_WORKERD" "$@"
