/**
 * `--port 0` with workers: the port every worker binds must be known before they bind it (with
 * SO_REUSEPORT, a bind to port 0 may land in ANOTHER program's reuseport group of the same user:
 * Linux's autobind skips ports only held by sockets that could not share them). So a port is
 * picked with an ordinary exclusive bind, released, and the workers bind it by number; if
 * another process took it in between, the first worker fails with EADDRINUSE and the pick is
 * repeated (PORT_PICK_ATTEMPTS).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { PORT_PICK_ATTEMPTS } from './constants.js';

export async function pickUdpPort(address: string): Promise<number> {
  const s = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ port: 0, address, exclusive: true }, () => resolve());
    });
    return s.address().port;
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Run `start(port)` on a picked port (or `port` itself when fixed), picking again on EADDRINUSE. */
export async function onPickedPort<T>(
  address: string,
  port: number,
  start: (port: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const p = port !== 0 ? port : await pickUdpPort(address);
    try {
      return await start(p);
    } catch (err) {
      const inUse = (err as { code?: unknown }).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= PORT_PICK_ATTEMPTS) throw err;
    }
  }
}
