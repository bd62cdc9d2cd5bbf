/**
 * Shared by the relay-side attack tests (issue 8): `natpush serve`'s own composition
 * (`startServices`, what the CLI runs) on loopback with free ports, a raw signaling client that
 * logs in and asks for TURN credentials, and TURN clients on what it was given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { serveCommand, startServices, type ServeArgs } from '../../src/cli/commands/serve.js';
import type { Endpoint } from '../../src/net/index.js';
import { nodeUdpNetwork } from '../../src/net/index.js';
import { TurnClient } from '../../src/relay/client/client.js';
import type { Identity } from '../../src/signaling/identity.js';
import type { ServerMessage } from '../../src/signaling/protocol.js';
import { silentLogger } from '../../src/util/logger.js';
import { allow, RawClient } from '../integration/signaling/helpers.js';
import { assertBuilt, CLI } from '../integration/signaling/natpush-process.js';

export type Closer = () => Promise<unknown> | void;

export interface ServeFixture {
  url: string;
  metrics(): Promise<string>;
}

export function parseServeArgs(argv: string[]): ServeArgs {
  const builder = serveCommand.builder as (y: Argv) => Argv<ServeArgs>;
  return builder(yargs()).parseSync(argv);
}

/** `natpush serve` (signaling + relay, no STUN) on 127.0.0.1 with free ports. */
export async function startServe(closers: Closer[], extra: string[] = []): Promise<ServeFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'natpush-sec-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const args = parseServeArgs([
    '--host=127.0.0.1',
    '--port=0',
    '--no-stun',
    '--relay-port=0',
    '--store=memory',
    `--data-dir=${dir}`,
    ...extra,
  ]);
  const { services } = await startServices(args, silentLogger);
  closers.push(async () => {
    for (const s of [...services].reverse()) await s.close();
  });
  const url = services[0]!.endpoints[0]!;
  return { url, metrics: async () => (await fetch(`${url}/metrics`)).text() };
}

export type Credentials = Extract<ServerMessage, { type: 'turn-credentials' }>;

/** A logged-in WebSocket peer (a fresh key pair: open registration) with TURN credentials. */
export async function peerWithCredentials(
  closers: Closer[],
  url: string,
): Promise<{ c: RawClient; id: Identity; creds: Credentials }> {
  const c = await RawClient.open(url);
  closers.push(() => c.ws.terminate());
  const id = await c.login();
  c.send({ type: 'turn-credentials', ref: 'turn' });
  const creds = await c.wait('turn-credentials');
  return { c, id, creds };
}

/** `turn:HOST:PORT?transport=T` → the endpoint. */
export function turnEndpoint(c: Credentials, t: 'udp' | 'tcp'): Endpoint {
  const url = c.urls.find((u) => u.endsWith(`?transport=${t}`));
  const m = /^turn:(.+):(\d+)\?transport=(udp|tcp)$/.exec(url ?? '');
  if (!m) throw new Error(`no ${t} URL in ${JSON.stringify(c.urls)}`);
  return { address: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function allocate(
  closers: Closer[],
  c: Credentials,
  transport: 'udp' | 'tcp' = 'udp',
): Promise<TurnClient> {
  const t = await TurnClient.allocate({
    server: turnEndpoint(c, transport),
    transport,
    net: nodeUdpNetwork,
    username: c.username,
    password: c.password,
  });
  closers.push(() => t.close());
  return t;
}

/**
 * Put two logged-in peers in rendezvous the way natpush peers do: each allows the other (its
 * contact list: the server forwards rendezvous frames to a peer only from peers it allows,
 * src/signaling/presence.ts), then each forwards its candidates to the other through the server.
 * Each `allow` is proved applied (a `pong` after it on the same connection) before the other side
 * sends: frames of two connections have no order at the server, and a `candidates` that overtakes
 * its recipient's `allow` is dropped without an answer.
 */
export async function rendezvous(
  a: { c: RawClient; id: Identity },
  b: { c: RawClient; id: Identity },
): Promise<void> {
  await Promise.all([allow(a.c, [b.id.peerId]), allow(b.c, [a.id.peerId])]);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.c.send({ type: 'candidates', to: y.id.peerId, rid: 'r1', candidates: [] });
    await y.c.wait('candidates', (m) => m.from === x.id.peerId);
  }
}

/** The built CLI as a child process, stdout and stderr captured (needs `npm run build`). */
export function spawnNatpush(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess;
  out(): string;
  err(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(): Promise<void>;
} {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    async waitFor(re, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (child.exitCode !== null || Date.now() > until)
          throw new Error(`no ${re} in stdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
