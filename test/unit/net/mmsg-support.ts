/**
 * The udp_mmsg addon for tests: built by `npm run build` (native/udp-mmsg/build.mjs). Locally a
 * missing build skips the addon's tests with one line; under CI=true it fails them, so CI never
 * passes by testing node:dgram in its place.
 */
import dgram from 'node:dgram';
import { mmsgUnavailable } from '../../../src/net/mmsg-binding.js';

export function mmsgOrSkip(): boolean {
  const why = mmsgUnavailable();
  if (why === undefined) return true;
  if (process.env.CI === 'true')
    throw new Error(`CI=true and the udp_mmsg addon is missing: ${why}`);
  process.stderr.write(`skip udp_mmsg: ${why}\n`);
  return false;
}

/** Whether this host can bind ::1 (some containers have no IPv6 loopback). */
export async function hasIPv6Loopback(): Promise<boolean> {
  const s = dgram.createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    try {
      s.close();
    } catch {
      // never bound
    }
  }
}

/** A node:dgram client bound on loopback; collects what it receives. */
export async function dgramClient(
  type: 'udp4' | 'udp6' = 'udp4',
): Promise<{ socket: dgram.Socket; got: { data: Buffer; port: number }[]; port: number }> {
  const socket = dgram.createSocket(type);
  const got: { data: Buffer; port: number }[] = [];
  socket.on('message', (data, rinfo) => got.push({ data, port: rinfo.port }));
  await new Promise<void>((resolve) =>
    socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => resolve()),
  );
  return { socket, got, port: socket.address().port };
}
