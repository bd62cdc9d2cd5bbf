/**
 * Two services between relay workers on one SO_REUSEPORT port (src/relay/server/siblings.ts),
 * with two servers in memory and an in-memory primary:
 *
 * - the hand-off: after a worker is replaced the kernel may deliver another worker's client to
 *   us; its datagrams go to the worker that holds its allocation (SiblingExchange.forward).
 *   Before, that client's ChannelData was dropped ('no-allocation') and its requests got 437.
 * - the lookup: a CreatePermission / ChannelBind toward a sibling's relayed address that no copy
 *   shows yet (the copy is one IPC hop behind the Allocate answer) asks the other workers'
 *   registries before it is refused. Before, it was refused 403 in that window.
 */
import { describe, expect, it } from 'vitest';
import { isTurnClientError } from '../../../src/relay/errors.js';
import type {
  SiblingExchange,
  SiblingServices,
  SiblingState,
} from '../../../src/relay/server/siblings.js';
import {
  decodeStunMessage,
  messageType,
  Method,
  StunClass,
  StunMessageBuilder,
} from '../../../src/stun/index.js';
import { closedAfterEach, RELAY, workerHost } from './worker-host.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const closers = closedAfterEach();

type Apply = (from: number, port: number, state: SiblingState | undefined) => void;

/**
 * The primary in memory (server/workers/pool.ts): `mirrors` false holds every copy back (the
 * IPC hop that has not happened yet); `lookup` false leaves SiblingExchange.lookup out (the
 * server then judges by its copies alone, as before).
 */
function primary(o: { mirrors: boolean; lookup: boolean }) {
  const workers = new Map<number, { apply: Apply; services: SiblingServices | undefined }>();
  const exchange = (me: number): SiblingExchange => ({
    publish: (port, s) => {
      if (!o.mirrors) return;
      for (const [i, w] of workers) if (i !== me) w.apply(me, port, s);
    },
    serve: (apply, _forget, services) => void workers.set(me, { apply, services }),
    forward: (owner, from, data) => {
      // Through the primary: a copy of the bytes, as IPC makes one.
      const w = workers.get(owner);
      setImmediate(() => w?.services?.received(from, Uint8Array.from(data)));
    },
    ...(o.lookup
      ? {
          lookup: (port: number) =>
            new Promise<[number, SiblingState] | undefined>((resolve) =>
              setImmediate(() => {
                for (const [i, w] of workers) {
                  const s = i !== me ? w.services?.stateOf(port) : undefined;
                  if (s !== undefined) return resolve([i, s]);
                }
                resolve(undefined);
              }),
            ),
        }
      : {}),
  });
  return { exchange };
}

async function world(o: { mirrors: boolean; lookup: boolean }) {
  const host = workerHost(closers);
  const p = primary(o);
  const servers = [await host.start(3478, p.exchange(0)), await host.start(3479, p.exchange(1))];
  return { servers, client: host.client };
}

describe('relay workers: the hand-off to a client’s owner', () => {
  it.each([
    [true, 'a client of worker 0 whose ChannelData reaches worker 1 is relayed by worker 0'],
    [false, 'without the copies worker 1 cannot tell: dropped as no-allocation'],
  ])('%s — %s', async (mirrors) => {
    const w = await world({ mirrors, lookup: true });
    const a = await w.client(3478);
    const b = await w.client(3478);
    const ch = await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    await settle();
    const got: number[][] = [];
    b.onData((d) => got.push([...d]));
    // a's 5-tuple now reaches worker 1 (the kernel's hash after a replacement).
    a.socket.send(Uint8Array.of(ch >>> 8, ch & 0xff, 0, 3, 7, 8, 9), {
      address: RELAY,
      port: 3479,
    });
    await settle();
    if (!mirrors) {
      expect(got).toEqual([]);
      expect(w.servers[1]!.counters.dropped['no-allocation']).toBe(1);
      return;
    }
    expect(got).toEqual([[7, 8, 9]]);
    expect(w.servers[1]!.counters.forwardedToOwner).toBe(1);
    expect(w.servers[1]!.counters.dropped['no-allocation']).toBe(0);
  });

  it('a request of the owner’s client reaching another worker is answered by the owner', async () => {
    const w = await world({ mirrors: true, lookup: true });
    const a = await w.client(3478);
    await settle();
    const from: number[] = [];
    a.socket.onMessage((d, src) => {
      if (decodeStunMessage(d).method === Method.Binding) from.push(src.port);
    });
    // A Binding request from a's 5-tuple to worker 1: handed to worker 0, which answers from
    // its own socket (in `--workers` the same shared port; here 3478, so the test can tell).
    a.socket.send(new StunMessageBuilder(messageType(Method.Binding, StunClass.Request)).build(), {
      address: RELAY,
      port: 3479,
    });
    await settle();
    expect(from).toEqual([3478]);
    expect(w.servers[1]!.counters.forwardedToOwner).toBe(1);
  });
});

describe('relay workers: a sibling’s new relayed address, before its copy arrives', () => {
  it.each([
    [true, 'asked of the workers: ChannelBinds both ways succeed'],
    [false, 'judged by the copies alone: 403 (the window this closes)'],
  ])('%s — %s', async (lookup) => {
    const w = await world({ mirrors: false, lookup });
    const a = await w.client(3478);
    const c = await w.client(3479);
    const bound = await c.bindChannel(a.relayedAddress).catch((e: unknown) => e);
    const back = await a.bindChannel(c.relayedAddress).catch((e: unknown) => e);
    if (!lookup) {
      expect(isTurnClientError(bound) && bound.status === 403, String(bound)).toBe(true);
      return;
    }
    expect(typeof bound, String(bound)).toBe('number');
    expect(typeof back, String(back)).toBe('number');
  });

  it('a port of ours that no worker relays is still refused 403 after the lookup', async () => {
    const w = await world({ mirrors: false, lookup: true });
    const c = await w.client(3479);
    const refused = await c
      .bindChannel({ address: RELAY, port: c.relayedAddress.port + 1 })
      .catch((e: unknown) => e);
    expect(isTurnClientError(refused) && refused.status === 403, String(refused)).toBe(true);
  });
});
