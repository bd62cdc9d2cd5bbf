// `npm run build`'s last step: compile the udp_mmsg addon (udp_mmsg.c) with node-gyp, which npm
// bundles (npm exports its path as npm_config_node_gyp to scripts). Offline by design: headers
// come from the installed Node (npm config nodedir, else <prefix>/include/node when it has
// node_api.h), never from a download. Linux only (recvmmsg/sendmmsg); elsewhere, or without a
// toolchain, natpush falls back to node:dgram and says so once (src/net/mmsg-binding.ts) — but
// under CI=true a failed build fails, so CI never tests the fallback by accident.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ci = process.env.CI === 'true';

function give(reason) {
  if (ci) {
    process.stderr.write(`udp-mmsg: ${reason}; CI=true: failing the build\n`);
    process.exit(1);
  }
  process.stderr.write(`udp-mmsg: not built (${reason}); natpush stun will use node:dgram\n`);
  process.exit(0);
}

if (process.platform !== 'linux') give(`recvmmsg/sendmmsg need Linux, this is ${process.platform}`);

const prefix = dirname(dirname(process.execPath));
const gyp = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].find((p) => p && existsSync(p));
if (!gyp) give('node-gyp not found (run through npm: `npm run build`)');

const args = [gyp, 'rebuild', '--directory', here, '--loglevel', 'warn'];
if (!process.env.npm_config_nodedir) {
  for (const dir of [prefix, '/usr', '/usr/local']) {
    if (existsSync(join(dir, 'include/node/node_api.h'))) {
      args.push(`--nodedir=${dir}`);
      break;
    }
  }
}
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) give(`node-gyp exited ${r.status ?? r.signal}`);
