/**
 * The one error shape (util/errors.ts): every code table exported by an `errors.ts` holds only
 * `NATPUSH_ERR_*` codes, no code means two things, and no source file raises a code that no
 * table declares. The tables are found by walking the tree, so a new module's table is checked
 * without being listed here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { StunErrorResponse } from '../../../src/stun/errors.js';
import { TURN_ERR, TurnClientError } from '../../../src/relay/errors.js';
import { StreamFramingError } from '../../../src/relay/stream-framer.js';
import { SignalingError, SignalingErrorCode } from '../../../src/signaling/errors.js';
import { SessionError, SessionErrorCode } from '../../../src/session/errors.js';
import { NetsimError, NETSIM_ERR } from '../../../netsim/errors.js';
import { CLI_ERR, exitCodeFor, EXIT, usageError } from '../../../src/cli/errors.js';
import { SERVER_ERR, optionError } from '../../../src/server/errors.js';
import { COMMON_ERR, isNatpushError, NatpushError } from '../../../src/util/errors.js';

const ROOT = join(import.meta.dirname, '../../..');

function walk(dir: string, keep: (f: string) => boolean, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

/** name → table, for every export named `*_ERR` or `*ErrorCode` whose values are strings. */
async function codeTables(): Promise<Map<string, Record<string, string>>> {
  const files = [
    ...walk(join(ROOT, 'src'), (f) => f.endsWith('/errors.ts')),
    join(ROOT, 'netsim/errors.ts'),
  ];
  const tables = new Map<string, Record<string, string>>();
  for (const f of files) {
    const mod = (await import(pathToFileURL(f).href)) as Record<string, unknown>;
    for (const [name, v] of Object.entries(mod)) {
      if (!/(_ERR|ErrorCode)$/.test(name) || typeof v !== 'object' || v === null) continue;
      const values = Object.values(v);
      if (values.length === 0 || !values.every((x) => typeof x === 'string')) continue;
      tables.set(`${relative(ROOT, f)}:${name}`, v as Record<string, string>);
    }
  }
  return tables;
}

describe('error codes', () => {
  it('every exported table: NATPUSH_ERR_* codes, each declared once (COMMON_ERR may be re-exported)', async () => {
    const tables = await codeTables();
    // The walker must see the known tables, or the checks below would pass on nothing.
    const names = [...tables.keys()].map((k) => k.split(':')[1]);
    for (const t of [
      'STUN_ERR',
      'TURN_ERR',
      'RELAY_CONFIG_ERR',
      'SignalingErrorCode',
      'SessionErrorCode',
      'PUNCH_ERR',
      'PORTMAP_ERR',
      'SERVER_ERR',
      'CLI_ERR',
      'NETSIM_ERR',
      'COMMON_ERR',
    ])
      expect(names).toContain(t);

    const common = new Set<string>(Object.values(COMMON_ERR));
    const declaredBy = new Map<string, string>();
    for (const [table, codes] of tables) {
      for (const [key, code] of Object.entries(codes)) {
        expect(code, `${table}.${key}`).toMatch(/^NATPUSH_ERR_[A-Z0-9_]+$/);
        if (common.has(code) && !table.endsWith(':COMMON_ERR')) continue; // an alias
        const other = declaredBy.get(code);
        expect(other, `${code} declared by ${table}.${key} and ${other}`).toBeUndefined();
        declaredBy.set(code, `${table}.${key}`);
      }
    }
  });

  it('no source file raises a NATPUSH_ERR_* code that no table declares', async () => {
    const declared = new Set<string>();
    for (const codes of (await codeTables()).values())
      for (const c of Object.values(codes)) declared.add(c);
    const undeclared: string[] = [];
    for (const dir of ['src', 'netsim', 'bench']) {
      for (const f of walk(join(ROOT, dir), (p) => p.endsWith('.ts'))) {
        for (const m of readFileSync(f, 'utf8').matchAll(
          /NATPUSH_ERR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])/g,
        )) {
          // `NATPUSH_ERR_STORE_…` in a comment names a family, not a code: skipped by the regex.
          if (!declared.has(m[0])) undeclared.push(`${relative(ROOT, f)}: ${m[0]}`);
        }
      }
    }
    expect(undeclared).toEqual([]);
  });
});

describe('NatpushError', () => {
  it('carries code, wire status and cause; every family is one', () => {
    const cause = new Error('socket closed');
    const e = new NatpushError('NATPUSH_ERR_X', 'm', { cause, status: 503 });
    expect([e.code, e.status, e.cause]).toEqual(['NATPUSH_ERR_X', 503, cause]);
    expect(new NatpushError('NATPUSH_ERR_X', 'm').status).toBeUndefined();

    const stun = new StunErrorResponse(420, 'Unknown Attribute');
    expect(stun).toBeInstanceOf(NatpushError);
    expect(stun.status).toBe(420);
    expect(stun.errorCode).toBe(420);

    const turn = new TurnClientError(TURN_ERR.REJECTED, 'no', 486, { cause });
    expect(turn).toBeInstanceOf(TurnClientError);
    expect([turn.code, turn.status, turn.cause]).toEqual([TURN_ERR.REJECTED, 486, cause]);

    const sig = new SignalingError(SignalingErrorCode.RATE_LIMITED, 'slow down');
    expect(sig).toBeInstanceOf(NatpushError);
    expect(sig.status).toBe(429); // HTTP_STATUS
    expect(new SignalingError(SignalingErrorCode.ABORTED, 'x').status).toBeUndefined();

    expect(new SessionError(SessionErrorCode.CLOSED, 'x')).toBeInstanceOf(NatpushError);
    expect(new StreamFramingError('x')).toMatchObject({ code: TURN_ERR.FRAMING });
    expect(new StreamFramingError('x')).toBeInstanceOf(NatpushError);
    expect(new NetsimError(NETSIM_ERR.NOT_ROOT, 'x')).toBeInstanceOf(NatpushError);
  });

  it('one usage code: CLI, server options and netsim arguments exit 2 on it', () => {
    expect(CLI_ERR.USAGE).toBe(COMMON_ERR.USAGE);
    expect(SERVER_ERR.USAGE).toBe(COMMON_ERR.USAGE);
    expect(isNatpushError(usageError('bad'), COMMON_ERR.USAGE)).toBe(true);
    expect(exitCodeFor(usageError('bad'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(optionError('bad'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new NatpushError(CLI_ERR.PING_TIMEOUT, 'x'))).toBe(EXIT.TIMED_OUT);
  });
});
