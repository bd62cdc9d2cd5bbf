/**
 * The built `natpush` with a malformed HOST[:PORT] flag (src/net/host-port.ts): exit 2, one line
 * `natpush: NATPUSH_ERR_USAGE: --flag: <what is wrong> in "<input>"`, and nothing sent. Before,
 * `nat-check --server 127.0.0.1:` probed port 0 and reported "UDP blocked".
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../../support/natpush-cli.js';

function natpush(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [requireBuiltCli(), ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ code: typeof code === 'number' ? code : err ? -1 : 0, stdout, stderr });
      },
    );
  });
}

describe('HOST[:PORT] flags of the CLI', () => {
  it.each([
    [['nat-check', '--server', '127.0.0.1:', '--no-portmap', '--no-tcp'], '--server', /empty port/],
    [['nat-check', '--server', ':', '--no-portmap'], '--server', /empty host/],
    [['nat-check', '--server', '127.0.0.1:0', '--no-portmap'], '--server', /port 0/],
    [['nat-check', '--server', '127.0.0.1:70000', '--no-portmap'], '--server', /out of range/],
    [['nat-check', '--server', '[::1]:', '--no-portmap'], '--server', /empty port/],
    [['nat-check', '--server', 'stun:x', '--no-portmap'], '--server', /not a number/],
    [['stun', '--listen', '127.0.0.1:'], '--listen', /empty port/],
    [['send', 'x', 'y', '--server', 'http://127.0.0.1:'], '--server', /empty port/],
    [['listen', '--server', '127.0.0.1:8787'], '--server', /not a URL/],
    [['ping', 'x', '--server', 'http://127.0.0.1:70000'], '--server', /not a URL/],
    [['stun', '--listen', '127.0.0.1:0', '--alternate', ':70000'], '--alternate', /out of range/],
  ])('%j', async (args, flag, why) => {
    const r = await natpush(args);
    expect(r.code).toBe(2);
    const line = r.stderr.trim().split('\n')[0] ?? '';
    expect(line.startsWith(`natpush: NATPUSH_ERR_USAGE: ${flag}: `)).toBe(true);
    expect(line).toMatch(why);
    expect(r.stdout).toBe('');
  });
});
