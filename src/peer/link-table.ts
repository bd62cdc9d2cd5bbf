/**
 * A Peer's end-to-end session links, one per remote peer (peer-link.ts: Noise IK + reliable
 * channel over `p2p` frames, then a relay or direct path), bounded and least-recently-used. It
 * routes what arrives for a link — `p2p` frames, a punch the other side started, a handshake in a
 * connectivity check — and makes the link when the remote is allowed.
 */
import { LIMITS } from '../signaling/constants.js';
import type { Identity } from '../signaling/identity.js';
import type { PeerHandshakes } from '../punch/connector.js';
import type { PunchedPath } from '../punch/path.js';
import type { Notification as ChannelNotification } from '../session/reliable.js';
import { isSessionDatagram } from '../session/wire.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { linkDeliveryPath } from './inbox.js';
import { PeerLink, type LinkPath } from './peer-link.js';
import type { DeliveryPath, PeerEvents } from './peer-types.js';
import type { PunchLayer } from './punch-layer.js';

/**
 * Peers with a live end-to-end session at once. Each holds session keys, a reliable channel's
 * bounded buffers and possibly a punched path with consent checks every ~5 s; 256 covers a
 * device's working set. Beyond it the least recently used link is closed (it is rebuilt on the
 * next notify; notifications in between use the sealed server rungs).
 */
const MAX_LINKS = 256;

export interface LinkTableOptions {
  identity: Identity;
  clock: Clock;
  logger: Logger;
  /** UDP paths at all (`direct`); without, links stay on `p2p` frames. */
  direct: boolean;
  punch: () => PunchLayer;
  /** The remote's verified Ed25519 key (key-directory.ts). */
  remoteKey: (peer: string) => Promise<string>;
  /** Send a `p2p` frame; false when not connected. */
  sendP2p: (to: string, data: string) => boolean;
  /** May this peer open a session to us? (contacts.ts) */
  allows: (peer: string) => boolean;
  onNotification: (from: string, n: ChannelNotification, path: LinkPath) => void;
  /** The application is behind: sessions stop reading. */
  paused: () => boolean;
  closed: () => boolean;
  emitPath: (e: PeerEvents['path'][0]) => void;
  emitPunch: (e: PeerEvents['punch'][0]) => void;
}

export class LinkTable {
  readonly #o: LinkTableOptions;
  readonly #links = new Map<string, PeerLink>();

  constructor(o: LinkTableOptions) {
    this.#o = o;
  }

  get(peer: string): PeerLink | undefined {
    return this.#links.get(peer);
  }

  /**
   * The Noise handshake in the punch's first checks (peer-link.ts): a link is made for an
   * allowed peer whose authenticated check carries an init, as for its `p2p` frames.
   */
  handshakes(): PeerHandshakes {
    return {
      init: (peer) => this.#links.get(peer)?.initForCheck(),
      answer: (peer, d) =>
        isSessionDatagram(d)
          ? this.linkFor(peer, this.#o.allows(peer))?.answerInCheck(d)
          : undefined,
      response: (peer, d) => {
        if (isSessionDatagram(d)) this.#links.get(peer)?.handleCheckResponse(d);
      },
    };
  }

  /** The session link to `peer`; created (bounded, LRU) when `create` and the peer is allowed. */
  linkFor(peer: string, create: boolean): PeerLink | undefined {
    const l = this.#links.get(peer);
    if (l) {
      this.#links.delete(peer);
      this.#links.set(peer, l); // LRU order
      return l;
    }
    if (!create || this.#o.closed() || peer === this.#o.identity.peerId) return undefined;
    while (this.#links.size >= MAX_LINKS) {
      const [oldest, link] = this.#links.entries().next().value!;
      this.#links.delete(oldest);
      link.close();
    }
    const o = this.#o;
    const link = new PeerLink({
      identity: o.identity,
      remote: peer,
      clock: o.clock,
      logger: o.logger,
      remoteKey: () => o.remoteKey(peer),
      sendP2p: (d) => this.#sendP2p(peer, d),
      connector: () => o.punch().get(),
      onNotification: (n, path) => o.onNotification(peer, n, path),
      onPath: (e) =>
        o.emitPath({
          peer,
          path: linkDeliveryPath(e.path),
          ...(e.reason ? { reason: e.reason } : {}),
        }),
      onPunch: (e) => o.emitPunch({ peer, ...e }),
      paused: o.paused,
      handshakeInChecks: true,
    });
    this.#links.set(peer, link);
    if (o.direct) o.punch().warm(); // be ready for the other side's punch
    return link;
  }

  #sendP2p(to: string, d: Uint8Array): boolean {
    if (d.length > LIMITS.maxP2pDataBytes) return false; // the channel fragments below this
    return this.#o.sendP2p(to, Buffer.from(d).toString('base64url'));
  }

  /** A `p2p` frame from `from`: to its link (made if the peer is allowed). */
  onP2p(from: string, data: string): void {
    const d = Buffer.from(data, 'base64url');
    if (!isSessionDatagram(d)) return;
    const link = this.linkFor(from, this.#o.allows(from));
    link?.handleServerDatagram(d);
  }

  /** A punch the other side started: its path goes to the link (made if the peer is allowed). */
  onIncomingPunch(peer: string, path: Promise<PunchedPath>): void {
    path.then(
      (p) => {
        const link = this.linkFor(peer, this.#o.allows(peer));
        if (link) link.adopt(p);
        else p.close();
        this.#o.emitPunch({
          peer,
          ok: true,
          kind: p.kind,
          ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
        });
      },
      (err: unknown) => this.#o.emitPunch({ peer, ok: false, error: String(err) }),
    );
  }

  /**
   * An authenticated ping/pong over the session to `peer` (made if needed) and the path it took.
   * The first includes the key lookup and the handshake.
   */
  async ping(
    peer: string,
    timeoutMs: number,
  ): Promise<{ rttMs: number; path: DeliveryPath; firstFlight: boolean }> {
    const link = this.linkFor(peer, true)!;
    await link.start();
    const rttMs = await link.ping(timeoutMs);
    return { rttMs, ...pongPath(link.path, link.lastRxInCheck) };
  }

  closeAll(): void {
    for (const l of this.#links.values()) l.close();
    this.#links.clear();
  }
}

/**
 * The path a pong took. One in a check's answer rode the punch's first flight (its ping was the
 * init's 0-RTT data): direct even before a path is adopted — but only if the punch did not end
 * on the relay. Our punch's answers wait until its pair is selected and adopted
 * (PeerLink.handleCheckResponse), so a relay here means the first flight went through the relay
 * too; counted direct, it made `ping`'s first pong and the netsim ladder counts say direct for
 * attempts that ended on the relay (NOTE4).
 */
export function pongPath(
  path: LinkPath,
  inCheckAnswer: boolean,
): { path: DeliveryPath; firstFlight: boolean } {
  const firstFlight = inCheckAnswer && path !== 'relay';
  return { path: firstFlight ? 'direct' : linkDeliveryPath(path), firstFlight };
}
