/**
 * `natpush relay --workers 2` from the built CLI on a free base port, for the integration and
 * interop tiers; resolves once the director listens. `stop()` ends it and its workers.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { freePort } from '../../bench/lib/coturn.js';
import { requireBuiltCli } from './natpush-cli.js';

export async function startRelayWorkers(
  user: string,
  extra: string[] = [],
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const args = ['relay', '--workers', '2', '--listen', '127.0.0.1', '--port', String(port)];
  const p = spawn(
    process.execPath,
    [requireBuiltCli(), ...args, '--user', user, '--allow-loopback-peers', ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise((r) => p.once('exit', r));
  const stop = async (): Promise<void> => {
    p.kill('SIGTERM');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      p.once('exit', (code) => reject(new Error(`natpush relay --workers exited with ${code}`)));
      readline.createInterface({ input: p.stderr! }).on('line', (l) => {
        if (l.includes('"role":"director"')) resolve();
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop };
}
