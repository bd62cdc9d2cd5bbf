/**
 * The README's `natpush relay` lines, run on the built CLI: `relay mint` prints TURN REST
 * credentials a relay with the same secret accepts, and `relay` refuses to start as an open relay.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { restPassword } from '../../../src/relay/credentials.js';
import { requireBuiltCli } from '../../support/natpush-cli.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'np-relay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('natpush relay (built CLI)', () => {
  it('relay mint alice --secret-file F --ttl 3600 prints coturn-style REST credentials', async () => {
    const file = join(dir, 'turn-secret');
    writeFileSync(file, 'the-secret\n', { mode: 0o600 });
    const before = Math.floor(Date.now() / 1000);
    const { stdout } = await run(process.execPath, [
      requireBuiltCli(),
      'relay',
      'mint',
      'alice',
      '--secret-file',
      file,
      '--ttl',
      '3600',
    ]);
    const c = JSON.parse(stdout) as {
      username: string;
      password: string;
      ttl: number;
      expiresAt: number;
    };
    expect(c.username).toMatch(/^\d+:alice$/);
    expect(c.ttl).toBe(3600);
    expect(c.expiresAt).toBeGreaterThanOrEqual(before + 3600);
    expect(c.username).toBe(`${c.expiresAt}:alice`);
    expect(c.password).toBe(restPassword('the-secret', c.username));
  });

  it('refuses to run without credentials (exit 2, never an open relay)', async () => {
    const err = await run(process.execPath, [
      requireBuiltCli(),
      'relay',
      '--port',
      '0',
      '--listen',
      '127.0.0.1',
    ]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(
      /NATPUSH_ERR_USAGE: the relay needs credentials/,
    );
  });
});
