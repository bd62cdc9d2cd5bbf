/**
 * `--early-ack-ms`, serve's option for the fast path of a local store
 * (src/signaling/early-accepts.ts): one entry of the one schema gives the flag, the `--config`
 * key, the default, the validation and the help text. That it reaches the server (and that 0
 * really turns the fast path off) is test/integration/signaling/early-ack-option.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  flagsOf,
  parseOptions,
  readConfigFile,
  withFlags,
} from '../../../src/server/options-schema.js';
import { SERVER_ERR } from '../../../src/server/errors.js';
import { serveSchema } from '../../../src/server/serve-options.js';
import { TIMING } from '../../../src/signaling/constants.js';

const dir = mkdtempSync(join(tmpdir(), 'np-serve-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const argv = (args: string[]) =>
  parseOptions(
    serveSchema,
    withFlags<Record<string, unknown>>(yargs(), serveSchema).parseSync(args),
  );

describe('serve --early-ack-ms', () => {
  it('is a number flag with the fast path default (TIMING.earlyAckMs) and says what 0 does', () => {
    const f = flagsOf(serveSchema)['early-ack-ms'];
    expect(f).toMatchObject({ type: 'number', default: TIMING.earlyAckMs });
    expect(TIMING.earlyAckMs).toBe(50);
    expect(String(f?.describe)).toMatch(/0 = off \(every notification written before accepted\)/);
    expect(argv([])['early-ack-ms']).toBe(50);
  });

  it.each([
    [['--early-ack-ms', '0'], 0],
    [['--early-ack-ms', '250'], 250],
    [['--early-ack-ms=60000'], 60_000],
  ])('%j parses to %d', (args, want) => {
    expect(argv(args)['early-ack-ms']).toBe(want);
  });

  it.each([-1, 1.5, 60_001, 'soon'])('%j is a usage error naming the flag (exit 2)', (v) => {
    try {
      parseOptions(serveSchema, { 'early-ack-ms': v });
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: SERVER_ERR.USAGE, exitCode: 2 });
      expect((e as Error).message).toMatch(/--early-ack-ms: /);
    }
  });

  it('comes from --config FILE under the flag name; the command line wins; a bad value names the file', () => {
    const file = join(dir, 'serve.json');
    writeFileSync(file, JSON.stringify({ 'early-ack-ms': 0 }));
    expect(argv(['--config', file])['early-ack-ms']).toBe(0);
    expect(argv(['--config', file, '--early-ack-ms', '30'])['early-ack-ms']).toBe(30);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ 'early-ack-ms': -5 }));
    expect(() => readConfigFile(wrong, serveSchema)).toThrow(
      expect.objectContaining({
        code: SERVER_ERR.CONFIG_FILE,
        message: expect.stringMatching(/wrong\.json: --early-ack-ms: /),
      }),
    );
  });
});
