/**
 * The one way natpush creates a secret file (src/server/secrets.ts createSecretFile): mode 0600,
 * never overwritten, never seen half-written, no temporary file left behind; serve's generated
 * secrets and a peer's identity key both go through it.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../../src/peer/identity-file.js';
import {
  createSecretFile,
  generatedSecret,
  readOrCreateSecretFile,
} from '../../../src/server/secrets.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'natpush-secret-'));
  dirs.push(d);
  return d;
}
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('createSecretFile', () => {
  it('creates the file with mode 0600 (and a missing parent with 0700), leaving nothing else', () => {
    const d = dir();
    const path = join(d, 'sub', 'key');
    expect(createSecretFile(path, 'one\n')).toBe('created');
    expect(mode(path)).toBe(0o600);
    expect(mode(join(d, 'sub'))).toBe(0o700);
    expect(readdirSync(join(d, 'sub'))).toEqual(['key']);
  });

  it('never overwrites: a second create says exists, and the first contents stand', () => {
    const path = join(dir(), 'key');
    createSecretFile(path, 'first\n');
    expect(createSecretFile(path, 'second\n')).toBe('exists');
    expect(readOrCreateSecretFile(path, () => 'third\n')).toEqual({
      contents: 'first\n',
      created: false,
    });
    expect(readdirSync(join(path, '..'))).toEqual(['key']); // the temporary file is gone
  });

  it('readOrCreateSecretFile makes it once', () => {
    const path = join(dir(), 'key');
    let made = 0;
    const make = (): string => `v${++made}\n`;
    expect(readOrCreateSecretFile(path, make)).toEqual({ contents: 'v1\n', created: true });
    expect(readOrCreateSecretFile(path, make)).toEqual({ contents: 'v1\n', created: false });
    expect(made).toBe(1);
  });
});

describe('the secret files natpush makes', () => {
  it('serve’s generated secret: the same value on every start; an empty file is refused', () => {
    const d = dir();
    const a = generatedSecret(d, 'api-key', 24);
    expect(a.value).toMatch(/^[\w-]{32}$/);
    expect(mode(a.file)).toBe(0o600);
    expect(generatedSecret(d, 'api-key', 24).value).toBe(a.value);
    writeFileSync(join(d, 'empty'), '\n', { mode: 0o600 });
    expect(() => generatedSecret(d, 'empty', 24)).toThrow(/empty/);
  });

  it('a peer’s identity key: created 0600 once, then loaded', () => {
    const path = join(dir(), 'natpush', 'identity.pem');
    const first = loadOrCreateIdentity(path);
    expect(first.created).toBe(true);
    expect(mode(path)).toBe(0o600);
    const again = loadOrCreateIdentity(path);
    expect(again.created).toBe(false);
    expect(again.identity.peerId).toBe(first.identity.peerId);
  });
});
