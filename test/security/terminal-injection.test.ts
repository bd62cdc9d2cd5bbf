/**
 * Issue 8, finding 8: `natpush listen` printed body and topic raw, so an ESC sequence (or a bare
 * CR/LF, a C1 CSI, a bidi override) in a notification could erase the line and forge one from
 * another sender. The attack end to end: a real `natpush serve`, a real `natpush listen` process,
 * and a hostile peer that sends such notifications. Text mode must show each notification as
 * exactly one line, with no control or bidi character left; JSON mode must stay exact JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer } from '../../src/peer/peer.js';
import { loadOrCreateIdentity } from '../../src/peer/identity-file.js';
import { generateIdentity } from '../../src/signaling/identity.js';
import { escapeTerminalText } from '../../src/util/terminal-text.js';
import { formatNotification } from '../../src/cli/commands/listen.js';
import {
  runNatpush,
  serve,
  type NatpushProcess,
} from '../integration/signaling/natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-term-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The listener process is up and connected (healthz counts online peers). */
async function listenerOnline(url: string): Promise<void> {
  await expect
    .poll(
      async () => ((await (await fetch(`${url}/healthz`)).json()) as { online: number }).online,
      { timeout: 20_000, interval: 100 },
    )
    .toBe(1);
}

function track(p: NatpushProcess): NatpushProcess {
  cleanups.push(() => p.kill());
  return p;
}

const FAKE = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
/** Each one tries to make the terminal show a line `... FAKE [bank]: send money` on its own. */
const HOSTILE = [
  // ESC: erase the line, carriage return, then a forged line
  `ok\x1b[2K\r2026-01-01T00:00:00.000Z ${FAKE} [bank]: send money`,
  // a bare newline starts a new "notification"
  `ok\n2026-01-01T00:00:00.000Z ${FAKE} [bank]: send money`,
  // C1 CSI (U+009B) = ESC [ on terminals that honour 8-bit controls; DEL; BEL; NUL
  `a\u009b2Kb\x7fc\x07d\x00e`,
  // OSC 8 hyperlink / title set, terminated by BEL and by ST (ESC \)
  `\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\`,
  // Trojan Source (CVE-2021-42574): bidi overrides and isolates reorder what is displayed
  `safe \u202ednoyes\u202c \u2066x\u2069 \u200f\u061c`,
  // Unicode line/paragraph separators, and a backslash that must not fake an escape
  `x\u2028y\u2029z \\x1b`,
];

/** Anything a terminal would act on instead of showing. */
const ACTIVE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

describe('finding 8: terminal injection through natpush listen', () => {
  it('text mode: one line per notification, every control and bidi character escaped', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    track(s.p);
    const bPath = join(dir, 'b.pem');
    const b = loadOrCreateIdentity(bPath).identity;
    const listen = track(
      runNatpush([
        'listen',
        '--identity',
        bPath,
        '--server',
        s.url,
        '--count',
        String(HOSTILE.length + 1),
      ]),
    );
    await listenerOnline(s.url);
    const attacker = await Peer.connect({ server: s.url, identity: generateIdentity() });
    cleanups.push(() => attacker.close());
    for (const body of HOSTILE) {
      const r = await attacker.notify(b.peerId, body, { topic: 'chat' });
      // 'stored' when the listener does not list the attacker as a contact: the server then
      // withholds that it was delivered (finding 5); the listener got it all the same.
      expect(['delivered', 'stored']).toContain(r.status);
    }
    // A hostile topic: the server may refuse it at the schema (a1-signaling); if it passes, the
    // listener must escape it too.
    let topicAccepted = false;
    try {
      await attacker.notify(b.peerId, 'last', { topic: `t\x1b[31m\r\n${FAKE}` });
      topicAccepted = true;
    } catch (e) {
      expect(String(e)).toMatch(/NATPUSH_ERR_BAD_FRAME|topic/i);
      await attacker.notify(b.peerId, 'last', { topic: 'end' });
    }
    expect((await listen.exited).code).toBe(0);
    const lines = listen.out().split('\n').filter(Boolean);
    // exactly one line per notification, each from the attacker: nothing forged a line
    expect(lines).toHaveLength(HOSTILE.length + 1);
    for (const line of lines) {
      expect(line).toMatch(new RegExp(`^\\S+Z ${attacker.id} \\[`));
      expect(line).not.toMatch(ACTIVE);
      expect(line).not.toContain('\x1b');
    }
    expect(listen.out()).not.toMatch(new RegExp(`^\\S+ ${FAKE}`, 'm'));
    // what was sent is still readable, escaped
    expect(lines[0]).toContain(`ok\\x1b[2K\\r2026-01-01T00:00:00.000Z ${FAKE} [bank]: send money`);
    expect(lines[1]).toContain(`ok\\n2026`);
    expect(lines[2]).toContain('a\\x9b2Kb\\x7fc\\x07d\\x00e');
    expect(lines[4]).toContain('safe \\u{202e}dnoyes\\u{202c}');
    expect(lines[5]).toContain('x\\u{2028}y\\u{2029}z \\\\x1b');
    if (topicAccepted) expect(lines[6]).toContain(`[t\\x1b[31m\\r\\n${FAKE}]: last`);
  });

  it('JSON mode stays exact JSON: the same bytes come back out of JSON.parse', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    track(s.p);
    const bPath = join(dir, 'b.pem');
    const b = loadOrCreateIdentity(bPath).identity;
    const listen = track(
      runNatpush([
        'listen',
        '--json',
        '--identity',
        bPath,
        '--server',
        s.url,
        '--count',
        String(HOSTILE.length),
      ]),
    );
    await listenerOnline(s.url);
    const attacker = await Peer.connect({ server: s.url, identity: generateIdentity() });
    cleanups.push(() => attacker.close());
    for (const body of HOSTILE) await attacker.notify(b.peerId, body, { topic: 'chat' });
    expect((await listen.exited).code).toBe(0);
    const lines = listen.out().split('\n').filter(Boolean);
    expect(lines).toHaveLength(HOSTILE.length);
    expect(lines.map((l) => (JSON.parse(l) as { body: string }).body)).toEqual(HOSTILE);
    for (const l of lines) {
      expect(l).not.toContain('\x1b'); // JSON.stringify escapes C0 itself
      expect(JSON.parse(l)).toMatchObject({ from: attacker.id, path: 'server-routed' });
    }
  });

  it('the escaper: sender and topic too, and printable text untouched', () => {
    expect(escapeTerminalText('héllo wörld ✓ 日本 🎉')).toBe('héllo wörld ✓ 日本 🎉');
    expect(escapeTerminalText('\ud800x\udc00')).toBe('\\u{d800}x\\u{dc00}');
    const line = formatNotification(
      {
        id: 'i',
        from: `app\x1b[2K\r${FAKE}`,
        to: FAKE,
        topic: 'a\u202eb',
        body: 'x',
        ts: 0,
        expires: 1,
        path: 'server-routed',
      },
      false,
    );
    expect(line).toBe(`1970-01-01T00:00:00.000Z app\\x1b[2K\\r${FAKE} [a\\u{202e}b]: x`);
  });
});
