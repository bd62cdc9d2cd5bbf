/**
 * coturn's `turnserver` as a plain STUN server (--stun-only) on loopback, for the STUN interop
 * test and bench/stun-binding.ts. With `rfc5780`, it listens on 127.0.0.1 and 127.0.0.2 and on
 * port and port + 1 (coturn's alternate port), and answers CHANGE-REQUEST.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopper, waitForStun } from './coturn.js';

export interface CoturnStun {
  port: number;
  altPort: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startCoturnStun(o: { rfc5780: boolean }): Promise<CoturnStun> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'natpush-coturn-stun-'));
    const child = spawn(
      'turnserver',
      [
        '-n',
        '--no-cli',
        '--no-tls',
        '--no-dtls',
        '--stun-only',
        '--listening-ip=127.0.0.1',
        ...(o.rfc5780
          ? ['--listening-ip=127.0.0.2', `--alt-listening-port=${port + 1}`]
          : ['--no-rfc5780']),
        `--listening-port=${port}`,
        `--pidfile=${join(dir, 'pid')}`,
        // Its own user database: every turnserver started without one opens the shared
        // /var/lib/turn/turndb, and parallel tests' coturns contend for it.
        `--userdb=${join(dir, 'turndb')}`,
        '--log-file=stdout',
        '--simple-log',
        '--no-stdout-log',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-4_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const stop = stopper(child, dir);
    try {
      await waitForStun(port, 10_000); // a loaded CI machine has taken > 5 s
      // With RFC 5780 coturn also binds 127.0.0.2 and port + 1; any of those four may be held by
      // another test's socket (coturn then runs without it and a CHANGE-REQUEST goes unanswered:
      // a CI run's NAT discovery against it timed out). All four must answer, else another pair.
      if (o.rfc5780) {
        await Promise.all(
          ['127.0.0.1', '127.0.0.2'].flatMap((a) =>
            [port, port + 1].map((p) => waitForStun(p, 5_000, a)),
          ),
        );
      }
      return { port, altPort: port + 1, process: child, stop };
    } catch (err) {
      await stop();
      // port + 1 may have been taken: try another pair
      if (attempt >= 2) {
        throw new Error(`${(err as Error).message}; turnserver said: ${out.trim().slice(-1_500)}`);
      }
    }
  }
}
