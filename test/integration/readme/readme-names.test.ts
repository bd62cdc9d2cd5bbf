/**
 * Names the README promises to scripts and dashboards: error codes, exit codes, metrics. Each
 * must be one the code has (STYLE.md §12), so a rename breaks this test instead of a reader.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { guardChild } from '../../../bench/lib/child-guard.js';
import { serve } from '../signaling/natpush-process.js';
import { CLI, DOC_FILES, FIGURE_DOCS, REPO, natpushHelp, readDoc } from './readme.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** The built CLI with stdout and stderr together; SIGKILLed and awaited after the test. */
function start(args: string[]): { waitFor(re: RegExp): Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  guardChild(child);
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    async waitFor(re) {
      // a CLI start on a loaded 2-core machine takes seconds
      await expect.poll(() => re.test(out), { timeout: 90_000, interval: 100 }).toBe(true);
      return re.exec(out)!;
    },
  };
}

function sources(dir: string): string {
  let all = '';
  for (const e of readdirSync(join(REPO, dir), { withFileTypes: true, recursive: true })) {
    // not these tests: they quote the README's names, so they would find every one
    if (e.isFile() && /\.(ts|mjs)$/.test(e.name) && !e.parentPath.includes('integration/readme'))
      all += readFileSync(join(e.parentPath, e.name), 'utf8') + '\n';
  }
  return all;
}
const SRC = sources('src') + sources('netsim');

/** `NATPUSH_ERR_X`, and the short forms the prose uses after a full one (`…_X`, `_X`). */
function errorCodes(md: string): string[] {
  const codes = new Set<string>();
  for (const [, c] of md.matchAll(/(NATPUSH_ERR_[A-Z0-9_]*[A-Z0-9])/g)) codes.add(c!);
  for (const [, c] of md.matchAll(/`…?_([A-Z][A-Z0-9_]*[A-Z0-9])`/g)) codes.add(`NATPUSH_ERR_${c}`);
  return [...codes];
}

describe.each(DOC_FILES)('%s', (doc) => {
  it('names only error codes that the code defines', () => {
    const codes = errorCodes(readDoc(doc));
    const unknown = codes.filter((c) => {
      const short = c.slice('NATPUSH_ERR_'.length);
      // a code table names the code in full or by its key (`UNKNOWN_PEER: …` / `'UNKNOWN_PEER'`)
      return !(
        SRC.includes(c) ||
        new RegExp(`(^|[\\s{,'"])${short}['"]?\\s*:`, 'm').test(SRC) ||
        SRC.includes(`'${short}'`)
      );
    });
    expect(unknown).toEqual([]);
  });
});

describe('README exit codes', () => {
  it('the table is the one `natpush --help` prints: same codes, same error codes', async () => {
    const md = readDoc();
    const table = md.slice(md.indexOf('| code | meaning'));
    const rows = new Map<string, string>();
    for (const [, code, meaning] of table.matchAll(/^\| (\d+)\s+\| (.*?)\s*\|$/gm))
      rows.set(code!, meaning!);
    const help = await natpushHelp([]);
    const helpRows = new Map<string, string>();
    for (const [, code, meaning] of help
      .slice(help.indexOf('Exit codes'))
      .matchAll(/^ {2}(\d+) {2}(.*)$/gm))
      helpRows.set(code!, meaning!);
    expect([...rows.keys()]).toEqual([...helpRows.keys()]);
    for (const [code, meaning] of rows)
      for (const c of errorCodes(meaning))
        expect(helpRows.get(code), `exit ${code}: ${c}`).toContain(c);
  });
});

describe('README metrics', () => {
  it('every natpush_* metric it names is exported: literally in src, or by relay and stun', async () => {
    const named = [
      ...new Set(
        [
          ...FIGURE_DOCS.map((d) => readDoc(d))
            .join('\n')
            .matchAll(/\b(natpush_[a-z0-9_]*[a-z0-9])/g),
        ].map((m) => m[1]!),
      ),
    ];
    expect(named.length).toBeGreaterThan(10);
    const notLiteral = named.filter((n) => !SRC.includes(n));
    if (notLiteral.length === 0) return;
    // built from a prefix at run time (`${prefix}_workers`): ask running servers
    const dir = mkdtempSync(join(tmpdir(), 'np-readme-metrics-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'secret'), 'metrics-secret\n', { mode: 0o600 });
    const servers = [
      ['relay', '--listen', '127.0.0.1', '--port', '0', '--secret-file', join(dir, 'secret')],
      ['stun', '--listen', '127.0.0.1:0'],
    ];
    let exported = '';
    for (const args of servers) {
      const p = start([...args, '--metrics-port', '0']);
      // stun prints the URL, relay logs it (JSON on stderr)
      const url = await p.waitFor(/(http:\/\/[\d.]+:\d+\/metrics)/);
      exported += await (await fetch(url[1]!)).text();
    }
    expect(notLiteral.filter((n) => !exported.includes(n))).toEqual([]);
  }, 120_000);
});

describe('README HTTP API table', () => {
  it('every route it lists is served, and asks for the auth it names', async () => {
    const md = readDoc();
    const table = md.slice(md.indexOf('| method | path'));
    const rows = [...table.matchAll(/^\| (GET|POST)\s+\| (.*?)\s+\| (.*?)\s+\| .*\|$/gm)];
    expect(rows.length).toBeGreaterThan(6);
    const dir = mkdtempSync(join(tmpdir(), 'np-readme-http-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const wrong: string[] = [];
    for (const [, method, paths, auth] of rows) {
      for (const [, path] of paths!.matchAll(/`([^`]+)`/g)) {
        const url = s.url + path!.replace('{id}', 'a'.repeat(32)).replace(/\?.*$/, '');
        const res = await fetch(url, { method, body: method === 'POST' ? '{}' : undefined });
        await res.arrayBuffer();
        // no credentials: API key and session-token routes answer 401, the Ed25519 login
        // refuses the empty body (400), the open ones answer 200
        const want = { 'API key': 401, 'session token': 401, Ed25519: 400, '—': 200 }[auth!];
        if (res.status !== want) wrong.push(`${method} ${path} (${auth}): ${res.status}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 120_000);
});

describe('README environment variables', () => {
  it('every NATPUSH_* variable and every VAR= a command sets is read somewhere (docs/ too)', () => {
    const md = FIGURE_DOCS.map((d) => readDoc(d)).join('\n');
    const vars = new Set<string>();
    for (const [, v] of md.matchAll(/\b(NATPUSH_(?!ERR_)[A-Z0-9_]*[A-Z0-9])\b/g)) vars.add(v!);
    // `HARD_NAT_ATTEMPTS=20 npx vitest …`, `RELAY_MOVE_LOG=1 …` (not the example's shell variables)
    for (const [, v] of md.matchAll(
      /(?:^|[`\s])([A-Z][A-Z0-9_]{3,})=\S*\s+(?:npx|node|natpush)\b/gm,
    ))
      vars.add(v!);
    expect(vars.size).toBeGreaterThan(4);
    const code = SRC + sources('bench') + sources('test');
    expect([...vars].filter((v) => !code.includes(v))).toEqual([]);
  });
});
