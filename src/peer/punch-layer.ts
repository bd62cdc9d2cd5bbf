/**
 * A Peer's punch layer, made once on first need (or at login with `warmDirect`): this peer's one
 * UDP socket (RFC 7983 demux of STUN, TURN ChannelData and session datagrams) and a
 * PunchConnector using serve's relay (the `turn:` URL of the welcome's credentials, or of
 * `turnCredentials()` when the welcome had none; the relay also answers STUN Binding, RFC 8656
 * §4). Without a relay (`serve --no-relay`) it punches with host candidates only. Rendezvous
 * frames that arrive while it is being made are kept (bounded) and handed to it when it is ready.
 */
import { networkInterfaces } from 'node:os';
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';
import { PunchConnector } from '../punch/connector.js';
import type {
  PeerHandshakes,
  PunchSignalIn,
  PunchSignalOut,
  PunchSignaling,
} from '../punch/connector.js';
import { PUNCH_DEFAULTS } from '../punch/constants.js';
import { turnEndpoint } from '../relay/client/turn-url.js';
import type { PunchedPath } from '../punch/path.js';
import type { Candidate } from '../punch/candidates.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { TurnCredentialsResult } from './turn-requests.js';
import type { PortmapProtocolName } from '../punch/portmap/index.js';
import { PortmapLayer } from './portmap-layer.js';
import { PredictionLayer } from './prediction-layer.js';
import { BirthdayLayer } from './birthday-layer.js';

/** Rendezvous frames kept while the punch layer is being set up (it subscribes late). */
const MAX_SIGNAL_BACKLOG = 16;

export interface PunchLayerOptions {
  /** False: no UDP at all (`direct: false`); `get()` resolves undefined. */
  enabled: boolean;
  peerId: string;
  clock: Clock;
  logger: Logger;
  udp: UdpNetwork;
  /** Addresses offered as host candidates (default: this machine's non-internal IPv4 ones). */
  interfaces?: () => readonly string[];
  turnCredentials: (o: { timeoutMs: number }) => Promise<TurnCredentialsResult>;
  /**
   * The relay credentials of the current connection's `welcome` (protocol.ts `welcome.turn`), if
   * serve sent them: the layer then starts gathering at once, without a `turn-credentials` round
   * trip first.
   */
  welcomeTurn?: () => TurnCredentialsResult | undefined;
  sendSignal: (f: PunchSignalOut) => boolean;
  clockOffsetMs: () => number;
  /** Answer punches from this peer? (the Peer's contacts) */
  accept: (peer: string) => boolean;
  /** A punch the other side started (its path, or why it failed). */
  onIncoming: (peer: string, path: Promise<PunchedPath>) => void;
  /** Session handshakes carried in the checks (the peer's links). */
  handshakes?: PeerHandshakes;
  /** The Peer is closing: stop making the layer. */
  closed: () => boolean;
  /** Map the socket's port on the router (PCP / NAT-PMP / UPnP-IGD; or only those). Default true. */
  portmap?: boolean | { protocols: PortmapProtocolName[] };
  /** Measure the NAT's port allocation and offer predicted ports. Default true. */
  portPrediction?: boolean;
}

export class PunchLayer {
  readonly #o: PunchLayerOptions;
  #connector: Promise<PunchConnector | undefined> | undefined;
  #socket: UdpSocket | undefined;
  #portmap: PortmapLayer | undefined;
  #prediction: PredictionLayer | undefined;
  #birthday: BirthdayLayer | undefined;
  #ready = false;
  readonly #backlog: PunchSignalIn[] = [];
  readonly #listeners = new Set<(f: PunchSignalIn) => void>();

  constructor(o: PunchLayerOptions) {
    this.#o = o;
  }

  /**
   * Make the punch layer in the background. Its failure (no UDP socket, the peer closing while it
   * is made) only means no direct path: log it, never leave it as an unhandled rejection, which
   * would end the application's process.
   */
  warm(): void {
    this.get().catch((err: unknown) =>
      this.#o.logger.info('punch layer unavailable', { err: String(err) }),
    );
  }

  /** Rendezvous frames for the connector (CONTRACTS §4); returns the unsubscribe function. */
  onSignal(cb: (f: PunchSignalIn) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** A rendezvous frame from serve: to the connector, or kept until it exists. */
  deliver(f: PunchSignalIn): void {
    if (this.#listeners.size > 0) for (const l of [...this.#listeners]) l(f);
    else if (this.#o.enabled && !this.#ready) {
      if (this.#backlog.length < MAX_SIGNAL_BACKLOG) this.#backlog.push(f);
      this.warm();
    }
  }

  /** A new signaling connection: serve forgot our punch offer with the old one. */
  reconnected(): void {
    if (this.#ready) void this.#connector?.then((c) => c?.registerOffer());
  }

  async close(): Promise<void> {
    const connector = this.#connector;
    this.#connector = undefined;
    const made = await connector?.catch(() => undefined);
    const prediction = this.#prediction?.close();
    this.#birthday?.close();
    // The router mapping is deleted while the socket still exists (a router may check it).
    await Promise.all([made?.close(), this.#portmap?.close(), prediction]);
    await this.#socket?.close();
  }

  get(): Promise<PunchConnector | undefined> {
    if (!this.#o.enabled) return Promise.resolve(undefined);
    this.#connector ??= this.#make();
    return this.#connector;
  }

  async #make(): Promise<PunchConnector | undefined> {
    const o = this.#o;
    let turn: Endpoint | undefined;
    // The credentials that named the relay also make its first allocation: asking serve again
    // cost a round trip on the way to the first candidates.
    let fetched: TurnCredentialsResult | undefined;
    const fresh = (c: TurnCredentialsResult | undefined): c is TurnCredentialsResult =>
      c !== undefined &&
      (c.expires === undefined ||
        c.expires * 1000 - o.clock.now() > 2 * PUNCH_DEFAULTS.relayCredentialMarginMs);
    // Right after login the welcome named the relay already: its STUN Binding goes out now
    // (issue 9: asking first cost a round trip to serve, 2·D, before the first candidates).
    const welcomed = o.welcomeTurn?.();
    if (fresh(welcomed)) fetched = welcomed;
    else {
      try {
        fetched = await o.turnCredentials({ timeoutMs: 5_000 });
      } catch (err) {
        o.logger.info('no relay from the server; direct paths from host candidates only', {
          err: String(err),
        });
      }
    }
    if (fetched) turn = turnEndpoint(fetched.urls, 'udp');
    const turnTcp = fetched ? turnEndpoint(fetched.urls, 'tcp') : undefined;
    if (o.closed()) return undefined;
    const socket = await o.udp.bindUdp({ port: 0 });
    if (o.closed()) {
      await socket.close();
      return undefined;
    }
    this.#socket = socket;
    const signaling: PunchSignaling = {
      sendSignal: (f) => o.sendSignal(f),
      onSignal: (cb) => this.onSignal(cb),
      get clockOffsetMs() {
        return o.clockOffsetMs();
      },
      turnCredentials: () => {
        const c = fetched;
        fetched = undefined; // once: renewals fetch fresh ones
        // Only if they outlive the gatherer's renewal margin by a minute more.
        return fresh(c) ? Promise.resolve(c) : o.turnCredentials({ timeoutMs: 5_000 });
      },
    };
    // Both start in the background and join the candidates from the next gather on (the
    // connector re-gathers and re-registers its offer): the first candidates never wait.
    let refresh = (): void => {};
    if (o.portmap !== false) {
      this.#portmap = new PortmapLayer({
        net: o.udp,
        clock: o.clock,
        logger: o.logger,
        port: socket.address().port,
        ...(typeof o.portmap === 'object' ? { protocols: o.portmap.protocols } : {}),
        onChange: () => refresh(),
      });
    }
    if (o.portPrediction !== false && turn) {
      this.#prediction = new PredictionLayer({
        net: o.udp,
        clock: o.clock,
        logger: o.logger,
        server: turn,
        onReady: () => refresh(),
      });
    }
    const portmap = this.#portmap;
    const prediction = this.#prediction;
    // Issue 11: NAT facts in the rendezvous frames and the birthday hard side (birthday-layer.ts).
    this.#birthday = new BirthdayLayer({
      net: o.udp,
      clock: o.clock,
      logger: o.logger,
      measured: () => prediction?.facts(),
      ...(prediction ? { prediction } : {}),
      portMapped: () => portmap?.granted() ?? false,
    });
    const connector = new PunchConnector({
      socket,
      ...(portmap || prediction
        ? {
            extraCandidates: (gathered: readonly Candidate[]) => [
              ...(portmap?.candidates(gathered) ?? []),
              ...(prediction?.candidates(gathered) ?? []),
            ],
          }
        : {}),
      signaling,
      hardNat: this.#birthday,
      clock: o.clock,
      logger: o.logger,
      interfaces: o.interfaces ?? defaultInterfaces,
      ...(turn ? { stunServer: turn, turnServer: turn } : {}),
      // A UDP-blocked network: the relay over TCP (RFC 8656 §3.1) instead of server-routed.
      ...(turn && turnTcp ? { turnTcpServer: turnTcp } : {}),
      accept: o.accept,
      localPeerId: o.peerId,
      // serve answers a punch toward us at once with our warm candidates (punch-offers.ts).
      registerOffers: true,
    });
    refresh = () => connector.refreshCandidates();
    connector.onIncoming(({ peer, path }) => o.onIncoming(peer, path));
    if (o.handshakes) connector.setHandshakes(o.handshakes);
    this.#ready = true;
    for (const f of this.#backlog.splice(0)) for (const l of [...this.#listeners]) l(f);
    return connector;
  }
}

/** This machine's non-internal IPv4 addresses; loopback only when it has none (a lab, CI). */
function defaultInterfaces(): string[] {
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);
  return external.length > 0 ? external : ['127.0.0.1'];
}
