/**
 * bench/lib/coturn.ts `waitForStun` (the coturn start-up wait of the interop and cluster tests)
 * leaves nothing running when it gives up. Its Binding poll used to be stopped only by an answer:
 * after a timeout (which startCoturnStun retries) it sent on the closed socket, and the uncaught
 * ERR_SOCKET_DGRAM_NOT_RUNNING failed a whole CI run in which every test had passed. Here a
 * socket holds the port and never answers; a poll still running would fire within the pause
 * (every 100 ms) and vitest would report it as an unhandled error.
 */
import dgram from 'node:dgram';
import { afterEach, expect, it } from 'vitest';
import { waitForStun } from '../../../bench/lib/coturn.js';

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

it('gives up after its deadline and stops polling', async () => {
  const silent = dgram.createSocket('udp4');
  sockets.push(silent);
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  await expect(waitForStun(silent.address().port, 300)).rejects.toThrow(/no STUN answer/);
  let heard = 0;
  silent.on('message', () => heard++);
  await new Promise((r) => setTimeout(r, 500));
  expect(heard).toBe(0);
});
