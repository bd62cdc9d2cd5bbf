/**
 * The README's examples, run as written (STYLE.md §12): the shell block of "Notifications" with
 * a `natpush` on PATH (ports swapped for free ones), and the library block as an ES module that
 * imports 'natpush' by name. Plus the CLI's own reporting and `serve`'s STUN service.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { within } from '../../support/deadline.js';
import { natpushOnPath, runNodeModule, shellGroup } from '../../support/shell-group.js';
import { onPath, readmeBlock, writeExampleModule } from '../readme/readme.js';
import {
  assertBuilt,
  CLI,
  REPO,
  runNatpush,
  serve,
  type NatpushProcess,
} from './natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-readme-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The limit of a test that starts `natpush` processes one after another (serve, then CLI commands
 * or a module): each start of Node takes seconds on a loaded 2-core machine, and a waitFor's own
 * deadline (45 s) must end before the test's, so a stall is reported with the process's output
 * rather than by vitest's bare timeout. A CI-like run (load 18) failed "id is stable" at the
 * tier's 30 s default with its six processes.
 */
const PROCESSES_TEST_MS = 150_000;

/** `natpush`'s exit, bounded below PROCESSES_TEST_MS, with its output when it never comes. */
function exitedWithin<T>(r: { out: () => string; exited: Promise<T> }, what: string): Promise<T> {
  return within(r.exited, 60_000, `${what} to exit`, () => `output:\n${r.out()}`);
}

function track(p: NatpushProcess): NatpushProcess {
  cleanups.push(() => p.kill());
  return p;
}

describe('README examples', { timeout: PROCESSES_TEST_MS }, () => {
  it('the shell example: serve, id, listen --json, send, curl POST', async () => {
    assertBuilt();
    const dir = tmp();
    const bin = natpushOnPath(dir, CLI);
    // The example names a fixed port; swap in a free one. Another process may grab it between
    // our probe and serve's bind, so a run whose serve hit EADDRINUSE is retried on a new port.
    let out = '';
    for (let attempt = 0; ; attempt++) {
      out = await runCliExample(dir, bin, await freePort());
      if (!out.includes('EADDRINUSE') || attempt === 2) break;
    }
    expect(out).toMatch(/"body":"build 1234 passed"/);
    expect(out).toMatch(/"body":"hello from another peer"/);
    expect(out).toMatch(
      /(delivered \S+ to \S+ via server-routed \(websocket\)|stored \S+ for \S+ in the mailbox)/,
    );
    expect(out).toMatch(/"online":true,"transport":"websocket"/); // the presence answer
    expect(out).toMatch(/"online":true,"duplicate":false/); // the POST answer
    expect(out).toMatch(/"topic":"ci","body":"build 1234 passed"/);
  });

  it('the library example', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const file = writeExampleModule(
      readmeBlock('library')
        .replaceAll("'./alice.pem'", `'${join(dir, 'alice.pem')}'`)
        .replaceAll("'./bob.pem'", `'${join(dir, 'bob.pem')}'`),
    );
    cleanups.push(() => rmSync(file, { force: true }));
    const r = runNatpushModule(file, { NATPUSH_SERVER: s.url });
    const code = await exitedWithin(r, 'the library example');
    expect(r.out()).toContain('bob got "hello bob" [greeting]');
    expect(r.out()).toContain('alice: delivered via server-routed');
    expect(code, r.out()).toBe(0); // the output holds stderr too: why it did not exit cleanly
  });
});

describe('README: TURN credentials', { timeout: PROCESSES_TEST_MS }, () => {
  it('the turn-credentials example: serve mints them, our TurnClient allocates on its relay', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const file = writeExampleModule(
      readmeBlock('turn-credentials').replaceAll("'./alice.pem'", `'${join(dir, 'alice.pem')}'`),
    );
    cleanups.push(() => rmSync(file, { force: true }));
    const r = runNatpushModule(file, { NATPUSH_SERVER: s.url });
    const code = await exitedWithin(r, 'the turn-credentials example');
    // With --relay-port 0 the UDP and TCP ports are picked separately; the default is 3479 for both.
    expect(r.out()).toMatch(
      /^true 3600 \[\s*'turn:127\.0\.0\.1:\d+\?transport=udp',\s*'turn:127\.0\.0\.1:\d+\?transport=tcp'\s*\]$/m,
    );
    expect(r.out()).toMatch(/^relayed at 127\.0\.0\.1:\d+$/m);
    expect(code).toBe(0);
  });
});

describe('natpush CLI', { timeout: PROCESSES_TEST_MS }, () => {
  it('id is stable, send to an offline peer reports the mailbox, listen prints it on connect', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    track(s.p);
    const env = { NATPUSH_SERVER: s.url };
    const id1 = track(runNatpush(['id', '--identity', join(dir, 'b.pem')], { env }));
    const peer = (await id1.waitFor(/^([a-z2-7]{32})$/m))[1]!;
    const idJson = track(runNatpush(['id', '--json', '--identity', join(dir, 'b.pem')], { env }));
    expect(JSON.parse((await idJson.waitFor(/^\{.*\}$/m))[0])).toMatchObject({
      peer,
      created: false,
    });
    // register b once, then leave
    const l0 = track(
      runNatpush(['listen', '--identity', join(dir, 'b.pem'), '--count', '1'], { env }),
    );
    await expect
      .poll(
        async () => ((await (await fetch(`${s.url}/healthz`)).json()) as { online: number }).online,
        { timeout: 20_000, interval: 100 }, // a CLI process start on a busy machine takes seconds
      )
      .toBe(1);
    await l0.kill('SIGTERM');
    await expect
      .poll(
        async () => ((await (await fetch(`${s.url}/healthz`)).json()) as { online: number }).online,
        { timeout: 20_000, interval: 100 }, // a CLI process start on a busy machine takes seconds
      )
      .toBe(0);
    const send = track(
      runNatpush(
        ['send', peer, 'while you were out', '--topic', 'news', '--identity', join(dir, 'a.pem')],
        { env },
      ),
    );
    await send.waitFor(/stored \S+ for \S+ in the mailbox/);
    expect((await exitedWithin(send, 'send')).code).toBe(0);
    const l1 = track(
      runNatpush(['listen', '--identity', join(dir, 'b.pem'), '--count', '1'], { env }),
    );
    await l1.waitFor(/Z [a-z2-7]{32} \[news\]: while you were out/);
    expect((await exitedWithin(l1, 'listen --count 1')).code).toBe(0);
  });

  it('send exits 4 (refused) for an unknown peer', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    track(s.p);
    const p = track(
      runNatpush([
        'send',
        'a'.repeat(32),
        'x',
        '--identity',
        join(dir, 'a.pem'),
        '--server',
        s.url,
      ]),
    );
    expect((await exitedWithin(p, 'send')).code).toBe(4); // EXIT.REFUSED (src/cli/errors.ts)
  });

  it('serve also answers STUN Binding requests (RFC 8489) on its STUN port', async () => {
    const dir = tmp();
    const s = track(
      runNatpush([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--stun-port',
        '0',
        '--relay-port',
        '0',
        '--data-dir',
        join(dir, 'd'),
      ]),
    );
    const m = await s.waitFor(/stun listening on stun:127\.0\.0\.1:(\d+) \(udp\)/);
    const sock = createSocket('udp4');
    cleanups.push(() => void sock.close());
    const txid = randomBytes(12);
    const req = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), txid]);
    const reply = new Promise<Buffer>((r) => sock.once('message', r));
    // Retransmit as a STUN client would (RFC 8489 §6.2.1), so one datagram dropped by a busy
    // loopback does not hang the test.
    const send = (): void => sock.send(req, Number(m[1]), '127.0.0.1');
    send();
    const retransmit = setInterval(send, 250);
    const res = await reply.finally(() => clearInterval(retransmit));
    expect(res.readUInt16BE(0)).toBe(0x0101); // Binding success response
    expect(res.subarray(8, 20).equals(txid)).toBe(true);
  });
});

/** Run the README's shell block with `port` for 8787 until both notifications were printed and
 *  its last line, the POST, was answered (or 75 s, or serve failed); returns all it printed. */
async function runCliExample(dir: string, bin: string, port: number): Promise<string> {
  // `npx natpush` (the README, in the checkout) → the built CLI on PATH in this temp dir
  const script = onPath(readmeBlock('cli'))
    .replaceAll('8787', String(port))
    .replace('natpush serve ', 'natpush serve --stun-port 0 --relay-port 0 ');
  // own process group: the example backgrounds serve and listen
  const s = shellGroup(script, {
    cwd: dir,
    bin,
    env: {
      HOME: dir,
      // the peer commands' default server is port 8787: point it at the swapped port
      NATPUSH_SERVER: `http://127.0.0.1:${port}`,
      XDG_CONFIG_HOME: join(dir, 'cfg'),
      XDG_DATA_HOME: '',
    },
  });
  // Five node processes start one after another (serve, listen, id, send, and curl's wait): on a
  // loaded 2-core machine each start can take seconds, and 30 s once ran out (load 18).
  // The output is read as it arrives: listen may print the POSTed notification before curl prints
  // the POST's answer, so that answer is waited for too (it is the script's last output).
  await s.until(
    (out) =>
      out.includes('EADDRINUSE') ||
      (out.includes('"body":"build 1234 passed"') &&
        out.includes('"body":"hello from another peer"') &&
        out.includes('"duplicate":')),
    75_000,
  );
  // Stop the whole group (serve and listen run in the background) and wait until none of it is
  // left, so the temp dir holding serve's data is not removed under a live process.
  await s.stop({ sig: 'SIGTERM', graceMs: 30_000 });
  return s.out();
}

/** `file` run by node in the package directory; killed and awaited after the test. */
function runNatpushModule(file: string, env: NodeJS.ProcessEnv) {
  const r = runNodeModule(file, REPO, env);
  cleanups.push(() => r.kill());
  return r;
}
