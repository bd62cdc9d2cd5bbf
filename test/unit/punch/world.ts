/**
 * A punch world on the in-memory network: a server host (natpush STUN + TURN), a signaling hub
 * that schedules punches with the REAL `Presence` of the signaling server (so `punch-start.at`
 * is computed as serve computes it), and peers behind RFC 4787 NAT boxes, each with its own
 * `PunchConnector` on one socket.
 */
import type { Endpoint, MemoryHost, MemoryNat, UdpSocket } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import type { NatBehavior } from '../../../src/net/index.js';
import { mintTurnCredentials, sharedSecret } from '../../../src/relay/credentials.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import type {
  PunchedPath,
  PunchSignaling,
  PunchSignalIn,
  PunchSignalOut,
} from '../../../src/punch/index.js';
import { PunchConnector } from '../../../src/punch/index.js';
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../../src/signaling/presence.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { forwardCandidates, type PunchOffer } from '../../../src/signaling/punch-offers.js';
import { StunServer } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { Logger, LogFields } from '../../../src/util/logger.js';
import { BirthdayLayer } from '../../../src/peer/birthday-layer.js';
import { PredictionLayer } from '../../../src/peer/prediction-layer.js';

export const SERVER = '203.0.113.1';
export const STUN: Endpoint = { address: SERVER, port: 3478 };
export const TURN: Endpoint = { address: SERVER, port: 3479 };
export const SECRET = 'punch-test-secret';
/** One-way delay per hop on the memory network. */
export const HOP_MS = 5;
/** Signaling one-way delay (half of the WebSocket RTT serve measured). */
export const SIGNAL_MS = 20;

export type NatKind =
  'full-cone' | 'restricted-cone' | 'port-restricted' | 'symmetric' | 'udp-blocked' | 'cgn';

export interface WorldOptions {
  serverSkewMs?: number;
  /** serve's punch lead (TIMING.punchLeadMs; default 250 here). */
  punchLeadMs?: number;
  /** One-way delay per hop of the memory network (default HOP_MS). */
  hopMs?: number;
  /** `turnCredentials()` answers after this long (serve: one signaling round trip; default 0). */
  credentialsDelayMs?: number;
}

export interface PeerSide {
  id: string;
  host: MemoryHost;
  socket: UdpSocket;
  connector: PunchConnector;
  nat: MemoryNat;
  /** With `prediction`: the Peer's prediction layer, and its info log lines. */
  prediction?: PredictionLayer;
  logs: { msg: string; fields: LogFields }[];
}

export class PunchWorld {
  readonly clock = new ManualClock();
  readonly net: MemoryNetwork;
  /** serve's clock runs `serverSkewMs` ahead of the peers'; peers learn it as clockOffsetMs. */
  readonly serverSkewMs: number;
  readonly presence: Presence;
  readonly #closers: (() => Promise<void> | void)[] = [];
  readonly #credentialsDelayMs: number;
  #natCount = 0;
  #hostCount = 0;
  /** Frames for which this returns true are lost on the way to serve (tests of retries). */
  loseSignal: (f: PunchSignalOut) => boolean = () => false;
  /** Frames for which this returns true are refused as if signaling were not connected. */
  refuseSignal: (f: PunchSignalOut) => boolean = () => false;
  /** serve lists `punch-end` in its welcome.s frames (false: an older serve). */
  takesPunchEnd = true;
  /** Offers registered with the hub (serve keeps one per connection: the newest). */
  readonly offers = new Map<string, PunchOffer>();
  stun!: StunServer;
  turn!: TurnServer;

  constructor(o: WorldOptions = {}) {
    this.net = new MemoryNetwork({ clock: this.clock, latencyMs: o.hopMs ?? HOP_MS, seed: 7 });
    this.serverSkewMs = o.serverSkewMs ?? 0;
    this.#credentialsDelayMs = o.credentialsDelayMs ?? 0;
    const clock = this.clock;
    const skew = this.serverSkewMs;
    this.presence = new Presence({
      metrics: signalingMetrics(new Metrics()),
      clock: { now: () => clock.now() + skew, setTimeout: (fn, ms) => clock.setTimeout(fn, ms) },
      punchLeadMs: o.punchLeadMs ?? 250,
    });
  }

  static async create(o: WorldOptions = {}): Promise<PunchWorld> {
    const w = new PunchWorld(o);
    const server = w.net.addHost({ addresses: [SERVER] });
    w.stun = await StunServer.start({ listen: STUN, net: server, clock: w.clock });
    w.turn = await createRelayServer({
      net: server,
      clock: w.clock,
      listenAddress: SERVER,
      port: TURN.port,
      relayAddress: SERVER,
      credentials: sharedSecret(SECRET),
    });
    w.#closers.push(
      () => w.stun.close(),
      () => w.turn.close(),
    );
    return w;
  }

  /** A NAT of `kind` on the internet; 'cgn' = a home port-restricted NAT behind a CGN. */
  nat(kind: NatKind, extra: Partial<NatBehavior> = {}): MemoryNat {
    const i = ++this.#natCount;
    if (kind === 'cgn') {
      // RFC 6888 REQ-1: a CGN has endpoint-independent mapping; filtering is the usual
      // address-and-port-dependent.
      const cgn = this.net.addNat({
        publicAddress: `198.51.100.${100 + i}`,
        behavior: { ...NAT_PRESETS['port-restricted'], ...extra },
      });
      return this.net.addNat({
        publicAddress: `100.64.${i}.2`,
        behind: cgn,
        behavior: { ...NAT_PRESETS['port-restricted'], ...extra },
      });
    }
    return this.net.addNat({
      publicAddress: `198.51.100.${100 + i}`,
      behavior: { ...NAT_PRESETS[kind], ...extra },
    });
  }

  /** A peer behind `nat` with its connector; `hostCandidates: false` hides its interfaces. */
  async peer(
    id: string,
    nat: MemoryNat,
    o: { hostCandidates?: boolean; offers?: boolean; prediction?: boolean } = {},
  ): Promise<PeerSide> {
    const host = this.net.addHost({
      addresses: [`192.168.0.${10 + ++this.#hostCount}`],
      behind: nat,
    });
    const socket = await host.bindUdp({ port: 40000 });
    const logs: PeerSide['logs'] = [];
    const keep = (msg: string, fields: LogFields = {}): void => void logs.push({ msg, fields });
    const logger: Logger = { debug: () => {}, info: keep, warn: keep, error: keep };
    // The Peer's hard-NAT layers (punch-layer.ts wires them the same way), with serve's relay
    // as the STUN server and its STUN port as the second destination.
    let refresh = (): void => {};
    const prediction = o.prediction
      ? new PredictionLayer({
          net: host,
          clock: this.clock,
          logger,
          server: TURN,
          onReady: () => refresh(),
        })
      : undefined;
    const hardNat = prediction
      ? new BirthdayLayer({
          net: host,
          clock: this.clock,
          logger,
          measured: () => prediction.facts(),
          prediction,
          portMapped: () => false,
        })
      : undefined;
    const connector = new PunchConnector({
      socket,
      ...(prediction && hardNat
        ? { hardNat, extraCandidates: (g) => prediction.candidates(g), logger }
        : {}),
      signaling: this.#signaling(id),
      clock: this.clock,
      interfaces: () => (o.hostCandidates === false ? [] : host.addresses),
      // The Peer asks the relay for its srflx (punch-layer.ts): one flow toward serve, so a
      // sequential NAT's counter does not move when the relay allocation is made at the punch.
      stunServer: prediction ? TURN : STUN,
      turnServer: TURN,
      localPeerId: id,
      registerOffers: o.offers === true,
    });
    refresh = () => connector.refreshCandidates();
    this.#closers.push(
      () => connector.close(),
      () => socket.close(),
      async () => {
        hardNat?.close();
        await prediction?.close();
      },
    );
    return { id, host, socket, connector, nat, logs, ...(prediction ? { prediction } : {}) };
  }

  /** Advance the manual clock in small steps until `p` settles (or `maxMs` passes). */
  async run<T>(p: Promise<T>, maxMs = 40_000): Promise<T> {
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let t = 0; t < maxMs && !settled; t += 5) await this.clock.advanceAsync(5);
    return p;
  }

  async close(): Promise<void> {
    // Closing a relay allocation is a Refresh(0) exchange on the memory network: drive the clock.
    for (const c of this.#closers.reverse()) await this.run(Promise.resolve(c()));
  }

  /** The peer's signaling connection: frames cross the hub with SIGNAL_MS one-way delay. */
  #signaling(id: string): PunchSignaling {
    const listeners = new Set<(f: PunchSignalIn) => void>();
    const channel: ControlChannel = {
      peer: id,
      publicKey: '',
      rttMs: 2 * SIGNAL_MS,
      control: (m: ServerMessage) => {
        if (m.type !== 'candidates' && m.type !== 'punch-start' && m.type !== 'punch-end')
          return true;
        this.clock.setTimeout(() => {
          for (const l of listeners) l(m as PunchSignalIn);
        }, SIGNAL_MS);
        return true;
      },
    };
    this.presence.addChannel(channel);
    // Each test peer allows the others (the `allow` frame): rendezvous is forwarded only then.
    this.presence.allow(channel, [], true);
    const clock = this.clock;
    const presence = this.presence;
    const offers = this.offers;
    return {
      clockOffsetMs: this.serverSkewMs,
      sendSignal: (f: PunchSignalOut): boolean => {
        // An older serve refuses `punch-end`: the client does not send it (Peer.sendSignal).
        if (f.type === 'punch-end' && !this.takesPunchEnd) return false;
        if (this.loseSignal(f)) return true;
        if (this.refuseSignal(f)) return false;
        clock.setTimeout(() => {
          if (f.type === 'punch') presence.punch(channel, f.to, f.rid);
          else if (f.type === 'punch-end') {
            const { to, ...rest } = f;
            presence.forward(id, to, { ...rest, from: id }); // ws-connection.ts: `from` is ours
          } else if (f.type === 'offer') {
            const { type: _type, ...offer } = f;
            offers.set(id, offer);
          } else
            // serve's own rule (punch-offers.ts): answered at once with the recipient's offer.
            forwardCandidates(presence, channel, f, (peer) => {
              const o = offers.get(peer);
              offers.delete(peer);
              return o;
            });
        }, SIGNAL_MS);
        return true;
      },
      onSignal(cb) {
        listeners.add(cb);
        return () => listeners.delete(cb);
      },
      turnCredentials: () =>
        new Promise((resolve) =>
          clock.setTimeout(() => {
            const c = mintTurnCredentials(SECRET, id, 3600, clock.now());
            resolve({ username: c.username, password: c.password, expires: c.expiresAt });
          }, this.#credentialsDelayMs),
        ),
    };
  }
}

/** Punch A → B and return both ends of the path. */
export async function punch(
  w: PunchWorld,
  a: PeerSide,
  b: PeerSide,
): Promise<[PunchedPath, PunchedPath]> {
  const incoming = new Promise<PunchedPath>((resolve, reject) => {
    b.connector.onIncoming((p) => void p.path.then(resolve, reject));
  });
  return w.run(Promise.all([a.connector.connect(b.id), incoming]));
}
