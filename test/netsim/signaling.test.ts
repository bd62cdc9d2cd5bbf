/**
 * Server-routed delivery across real kernel NATs: a `natpush listen` peer behind each netsim
 * preset (full-cone, restricted-cone, port-restricted, symmetric), behind a home NAT behind
 * carrier-grade NAT, and behind a UDP-blocking firewall, receives a notification sent by another
 * peer (`natpush send` from a public host) and one POSTed by an application on the internet side.
 * The peers only ever dial out; `natpush serve` runs on the lab's server.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);
const KEY = 'netsim-api-key';

const CASES = [
  ['fc', 'full-cone'],
  ['rc', 'restricted-cone'],
  ['pr', 'port-restricted'],
  ['sym', 'symmetric'],
  ['cg', 'full-cone behind carrier-grade NAT'],
  ['ub', 'udp-blocked firewall'],
] as const;

interface Listener {
  child: ChildProcess;
  peer: string;
  lines: string[];
  exited: Promise<number | null>;
}

/** Resolves when a line matching `re` has been seen on `input`. */
function lineMatching(input: NodeJS.ReadableStream, re: RegExp, into?: string[]): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input });
    rl.on('line', (l) => {
      into?.push(l);
      if (re.test(l)) resolve(l);
    });
  });
}

describe.skipIf(skip)('notifications to peers behind real NATs (netsim)', () => {
  let lab: Lab | undefined;
  let dir = '';
  let cli = '';
  let url = '';
  const listeners = new Map<string, Listener>();

  beforeAll(async () => {
    cli = requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'np-netsim-sig-'));
    lab = await Lab.create({
      nats: [
        { name: 'nfc', preset: 'full-cone' },
        { name: 'nrc', preset: 'restricted-cone' },
        { name: 'npr', preset: 'port-restricted' },
        { name: 'nsym', preset: 'symmetric' },
        { name: 'cgn', preset: 'port-restricted' },
        { name: 'home', preset: 'full-cone', behind: 'cgn' },
        { name: 'blk', preset: 'port-restricted', udpBlocked: true },
      ],
      hosts: [
        { name: 'fc', behind: 'nfc' },
        { name: 'rc', behind: 'nrc' },
        { name: 'pr', behind: 'npr' },
        { name: 'sym', behind: 'nsym' },
        { name: 'cg', behind: 'home' },
        { name: 'ub', behind: 'blk' },
        { name: 'app' }, // public: another peer, and an application server posting over HTTP
      ],
    });
    url = `http://${lab.address('server')}:8787`;
    // Inside the lab's own namespace fixed ports are ours alone.
    const server = lab.spawn(
      'server',
      process.execPath,
      [
        cli,
        'serve',
        '--port',
        '8787',
        '--data-dir',
        join(dir, 'data'),
        '--api-key',
        KEY,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await lineMatching(server.stdout!, /signaling listening on http/);
    await Promise.all(
      CASES.map(async ([host]) => {
        const identity = join(dir, `${host}.pem`);
        const child = lab!.spawn(
          host,
          process.execPath,
          // --allow anyone: the sender on `app` may see this peer online (issue 8, finding 5),
          // so its `send` waits for the end-to-end ack instead of reporting "stored".
          [
            cli,
            'listen',
            '--json',
            '--count',
            '2',
            '--allow',
            'anyone',
            '--server',
            url,
            '--identity',
            identity,
          ],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        const lines: string[] = [];
        void lineMatching(child.stdout!, /^$/, lines);
        const ready = JSON.parse(await lineMatching(child.stderr!, /"event":"listening"/)) as {
          peer: string;
        };
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        listeners.set(host, { child, peer: ready.peer, lines, exited });
      }),
    );
    // serve and six `natpush listen` processes start and log in at once: on a loaded 2-core
    // machine that is tens of seconds, and the netsim hook default (60 s) is where it would end.
  }, 180_000);

  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(CASES)('behind %s (%s): a peer send and an HTTP POST both arrive', async (host) => {
    const l = listeners.get(host)!;
    const send = await lab!.exec(
      'app',
      process.execPath,
      [
        cli,
        'send',
        l.peer,
        `peer-to-${host}`,
        '--json',
        '--server',
        url,
        '--identity',
        join(dir, 'app.pem'),
      ],
      { timeoutMs: 30_000 },
    );
    expect(send.code, send.stderr).toBe(0);
    expect(JSON.parse(send.stdout)).toMatchObject({
      path: 'server-routed',
      status: 'delivered',
      via: 'websocket',
    });
    const post = `const r = await fetch(${JSON.stringify(`${url}/v1/peers/${l.peer}/notifications`)}, {
      method: 'POST', headers: { authorization: 'Bearer ${KEY}', 'content-type': 'application/json' },
      body: JSON.stringify({ body: 'http-to-${host}', topic: 'ci' }) });
      process.stdout.write(String(r.status));`;
    const r = await lab!.exec('app', process.execPath, ['--input-type=module', '-e', post], {
      timeoutMs: 30_000,
    });
    expect(r.stdout, r.stderr).toBe('202');
    expect(await l.exited).toBe(0);
    const got = l.lines.map((x) => JSON.parse(x) as { body: string; topic: string });
    expect(got.map((n) => n.body)).toEqual([`peer-to-${host}`, `http-to-${host}`]);
    expect(got[1]!.topic).toBe('ci');
  });
});
