/**
 * The one options schema per command: yargs flags (type, default, choices, help) are derived from
 * it, argv and --config files are validated by it with stable codes, and an option added to the
 * schema is a flag at once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  flagsOf,
  parseOptions,
  readConfigFile,
  withFlags,
} from '../../../src/server/options-schema.js';
import { relaySchema } from '../../../src/server/relay-options.js';
import { serveSchema } from '../../../src/server/serve-options.js';
import { stunSchema } from '../../../src/server/stun-options.js';
import { SERVER_ERR } from '../../../src/server/errors.js';
import { hasReusePort } from '../../../src/server/workers/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'np-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flags derived from the schema', () => {
  it('no help text names a source file (users read the README, not src/)', () => {
    for (const schema of [relaySchema, stunSchema, serveSchema]) {
      for (const [name, flag] of Object.entries(flagsOf(schema))) {
        expect(String(flag.describe), name).not.toMatch(/\bsrc\/|\.[tj]s\b/);
      }
    }
  });

  it('relay: types, defaults, choices and help text come from the zod schema', () => {
    const f = flagsOf(relaySchema);
    expect(f.port).toMatchObject({ type: 'number', default: 3478 });
    expect(f.tcp).toMatchObject({ type: 'boolean', default: true });
    expect(f.user).toMatchObject({ type: 'string', array: true, default: [] });
    expect(f['workers-mode']).toMatchObject({
      choices: ['reuseport', 'redirect'],
      default: 'reuseport',
    });
    expect(f['log-level']?.choices).toEqual(['debug', 'info', 'warn', 'error']);
    expect(f['tcp-port']).toMatchObject({ type: 'number' });
    expect(f['tcp-port']?.default).toBeUndefined();
    expect(String(f.workers?.describe)).toMatch(/NATPUSH_ERR_WORKERS_UNSUPPORTED/);
    // Every schema key is a flag; nothing else is.
    expect(Object.keys(f)).toEqual(Object.keys(relaySchema.shape));
  });

  it('serve and stun keep their flags (names as before the schema)', () => {
    expect(Object.keys(flagsOf(serveSchema))).toEqual(
      expect.arrayContaining([
        'port',
        'host',
        'data-dir',
        'store',
        'api-key-file',
        'api-key',
        'peer-token-file',
        'peer-token',
        'stun',
        'stun-port',
        'relay',
        'relay-port',
        'relay-address',
        'relay-public-address',
        'relay-peer-gate',
        'open-relay-i-know',
        'turn-secret-file',
        'turn-secret',
        'turn-credential-ttl',
        'log-level',
      ]),
    );
    expect(flagsOf(stunSchema)['rate-limit']).toMatchObject({ type: 'number', default: 200 });
  });

  it('an option added to a schema is a parsed, validated flag (one place)', () => {
    const schema = relaySchema.extend({
      redis: z.string().url().optional().describe('Redis URL for scale-out'),
    });
    const argv = withFlags<Record<string, unknown>>(yargs(), schema).parseSync([
      '--redis',
      'redis://127.0.0.1:6379',
      '--user',
      'a:b',
    ]);
    expect(parseOptions(schema, argv).redis).toBe('redis://127.0.0.1:6379');
    expect(() => parseOptions(schema, { redis: 'not a url' })).toThrow(/--redis/);
  });
});

describe('validation', () => {
  it('defaults fill what is absent; yargs extras (camelCase, _, $0) are ignored', () => {
    const argv = withFlags<Record<string, unknown>>(yargs(), relaySchema).parseSync(['--port=0']);
    const o = parseOptions(relaySchema, argv);
    expect(o).toMatchObject({ port: 0, workers: 1, 'workers-mode': 'reuseport', realm: 'natpush' });
    expect(o).not.toHaveProperty('tcpPort');
    expect(o).not.toHaveProperty('$0');
  });

  it.each([
    [{ port: 70_000 }, /--port: /],
    [{ workers: 0 }, /--workers: /],
    [{ workers: 1.5 }, /--workers: /],
    [{ 'workers-mode': 'fork' }, /--workers-mode: /],
    [{ 'ip-quota': -1 }, /--ip-quota: /],
  ])('%o is a usage error naming the flag (NATPUSH_ERR_USAGE, exit 2)', (raw, message) => {
    try {
      parseOptions(relaySchema, raw);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: SERVER_ERR.USAGE, exitCode: 2 });
      expect((e as Error).message).toMatch(message);
    }
  });

  it('--config FILE: JSON with the flag names; flags on the command line win; bad files are NATPUSH_ERR_CONFIG_FILE', () => {
    const file = join(dir, 'relay.json');
    writeFileSync(file, JSON.stringify({ port: 4000, realm: 'example.org', 'ip-quota': 5 }));
    const argv = withFlags<Record<string, unknown>>(yargs(), relaySchema).parseSync([
      '--config',
      file,
      '--port',
      '5000',
    ]);
    expect(parseOptions(relaySchema, argv)).toMatchObject({
      port: 5000,
      realm: 'example.org',
      'ip-quota': 5,
    });
    const unknown = join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ prot: 1 }));
    expect(() => readConfigFile(unknown, relaySchema)).toThrow(
      expect.objectContaining({
        code: SERVER_ERR.CONFIG_FILE,
        message: expect.stringMatching(/unknown option prot/),
      }),
    );
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ port: 'x' }));
    expect(() => readConfigFile(wrong, relaySchema)).toThrow(
      expect.objectContaining({ code: SERVER_ERR.CONFIG_FILE }),
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{');
    expect(() => readConfigFile(broken, relaySchema)).toThrow(
      expect.objectContaining({ code: SERVER_ERR.CONFIG_FILE }),
    );
  });
});

describe('hasReusePort', () => {
  it.each([
    ['20.20.2', 'linux', false],
    ['22.11.0', 'linux', false],
    ['22.12.0', 'linux', true],
    ['23.0.0', 'linux', false],
    ['23.1.0', 'linux', true],
    ['24.22.3', 'linux', true],
    ['24.22.3', 'darwin', false],
  ] as const)('Node %s on %s: %s', (v, platform, want) => {
    expect(hasReusePort(v, platform)).toBe(want);
  });
});
