/**
 * Two real PeerLinks (SecureSession, ReliableChannel, PunchConnector) on a PunchWorld, the
 * harness of the peer-link tests (simultaneous-open, time-to-direct, path-move-resend,
 * relay-label): the server rung is a `p2p` hop delivered to the other link after `serverMs`,
 * the remote's key a `key-request` answered after `keyDelayMs`, each connector's incoming punches
 * adopted by its link. What each link receives and every `path` event it emits are recorded.
 *
 *   const w = await linkWorld({ punchLeadMs: 20 });
 *   const pair = linkPair(w, [ia, sideA], [ib, sideB], { handshakeInChecks: true });
 *   afterEach(closeLinkWorld);   // closes every link made here, then the world
 */
import { PeerLink, type LinkPath, type PeerLinkOptions } from '../../../src/peer/peer-link.js';
import type { Identity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { PunchWorld, SIGNAL_MS, type PeerSide, type WorldOptions } from '../punch/world.js';

export type End = 'a' | 'b';

export interface LinkPairOptions {
  /** One-way time of the server rung, to serve and on to the other peer (default 2 SIGNAL_MS). */
  serverMs?: number;
  /** The remote's key after a timer of this long (a key-request round trip); default: at once. */
  keyDelayMs?: number;
  /** True: this end's server-rung datagram is lost (asked once per datagram, in order). */
  loseServer?: (end: End) => boolean;
  /** Session handshakes ride in the punch's checks (the Peer's setting). Default false. */
  handshakeInChecks?: boolean;
  /** Further PeerLink options for both ends (repunchMs, ...). */
  link?: Partial<PeerLinkOptions>;
}

export interface LinkPair {
  a: PeerLink;
  b: PeerLink;
  /** Every `path` event, per end. */
  events: Record<End, LinkPath[]>;
  /** The reason of every `path` event that gave one (a path that went down), per end. */
  reasons: Record<End, string[]>;
  /** Bodies received, per end, in order. */
  got: Record<End, string[]>;
  /** The same as `body@path` (the path each arrived on). */
  gotAt: Record<End, string[]>;
}

const open: { world: PunchWorld | undefined; links: PeerLink[] } = { world: undefined, links: [] };

/** A PunchWorld that closeLinkWorld() closes (after the links made on it). */
export async function linkWorld(o?: WorldOptions): Promise<PunchWorld> {
  const w = await PunchWorld.create(o);
  open.world = w;
  return w;
}

/** A link made without linkPair that closeLinkWorld() closes too. */
export function trackLink(l: PeerLink): PeerLink {
  open.links.push(l);
  return l;
}

/**
 * What a Peer wires between a link and its side's connector: the connector's incoming punches are
 * adopted by the link, and with `handshakeInChecks` the session handshake rides in the checks.
 */
export function attachToConnector(l: PeerLink, side: PeerSide, handshakeInChecks: boolean): void {
  if (handshakeInChecks)
    side.connector.setHandshakes({
      init: () => l.initForCheck(),
      answer: (_, d) => l.answerInCheck(d),
      response: (_, d) => l.handleCheckResponse(d),
    });
  side.connector.onIncoming(
    ({ path }) =>
      void path.then(
        (p) => l.adopt(p),
        () => {},
      ),
  );
}

/** For afterEach: close every link made by linkPair, then the world of linkWorld(). */
export async function closeLinkWorld(): Promise<void> {
  for (const l of open.links.splice(0)) l.close();
  await open.world?.close();
  open.world = undefined;
}

export function linkPair(
  w: PunchWorld,
  [ia, sa]: [Identity, PeerSide],
  [ib, sb]: [Identity, PeerSide],
  o: LinkPairOptions = {},
): LinkPair {
  const serverMs = o.serverMs ?? 2 * SIGNAL_MS;
  const keyDelayMs = o.keyDelayMs;
  const events: Record<End, LinkPath[]> = { a: [], b: [] };
  const reasons: Record<End, string[]> = { a: [], b: [] };
  const got: Record<End, string[]> = { a: [], b: [] };
  const gotAt: Record<End, string[]> = { a: [], b: [] };
  const byEnd: Partial<Record<End, PeerLink>> = {};
  const mk = (me: Identity, other: Identity, side: PeerSide, end: End): PeerLink => {
    const l: PeerLink = new PeerLink({
      identity: me,
      remote: other.peerId,
      clock: w.clock,
      logger: silentLogger,
      remoteKey: () =>
        keyDelayMs === undefined
          ? Promise.resolve(other.publicKey)
          : new Promise((resolve) =>
              w.clock.setTimeout(() => resolve(other.publicKey), keyDelayMs),
            ),
      sendP2p: (d) => {
        if (o.loseServer?.(end)) return true;
        const copy = new Uint8Array(d);
        w.clock.setTimeout(
          () => byEnd[end === 'a' ? 'b' : 'a']!.handleServerDatagram(copy),
          serverMs,
        );
        return true;
      },
      connector: () => Promise.resolve(side.connector),
      onNotification: (n, path) => {
        got[end].push(n.body);
        gotAt[end].push(`${n.body}@${path}`);
      },
      onPath: (e) => {
        events[end].push(e.path);
        if (e.reason !== undefined) reasons[end].push(e.reason);
      },
      onPunch: () => {},
      ...(o.handshakeInChecks ? { handshakeInChecks: true } : {}),
      ...o.link,
    });
    attachToConnector(l, side, o.handshakeInChecks ?? false);
    open.links.push(l);
    byEnd[end] = l;
    return l;
  };
  const a = mk(ia, ib, sa, 'a');
  const b = mk(ib, ia, sb, 'b');
  return { a, b, events, reasons, got, gotAt };
}
