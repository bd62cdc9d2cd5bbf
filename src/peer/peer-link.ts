/**
 * One remote peer as seen from this one: an end-to-end `SecureSession` (Noise IK) with a
 * `ReliableChannel` on top, and the path its datagrams take now — DESIGN.md's ladder: server
 * (`p2p` frames through serve), relay (a PunchedPath through serve's TURN), direct (a
 * PunchedPath between the NATs). `setSend` swaps the path under the session (keys and counters
 * stay), so a move costs at most one retransmission (`channel.pathChanged()`).
 * This file holds the path and the session under it: adopting a punched path — both sides take
 * every punched path (AGREEMENT), the other side's through `onIncoming` — and dropping one that
 * dies (consent lost, RFC 7675; nothing back with data in flight, path-hearing.ts) or whose
 * remote moved (NAT rebinding): the link is on the server rung at once. Who punches and when,
 * and the re-punch after a relay result or a death, is peer-link-upgrade.ts.
 * First contact in one direct round trip (`handshakeInChecks`): the Noise init rides in the
 * punch's first checks with what is queued as 0-RTT data, answered in the check's success
 * response; if no check takes it, the handshake goes over the server as before.
 * Pure of sockets: the server rung is an injected `sendP2p`, the UDP rungs an injected connector
 * (CONTRACTS §4), time the injected clock.
 */
import type { PunchedPath } from '../punch/path.js';
import { SessionErrorCode } from '../session/errors.js';
import { ReliableChannel, type Notification as ChannelNotification } from '../session/reliable.js';
import { SecureSession } from '../session/secure-session.js';
import { MessageKind } from '../session/wire.js';
import { PathHearing } from './path-hearing.js';
import {
  CHECK_HANDSHAKE_HOLD_MS,
  MAX_CHECK_ANSWERS,
  type LinkPath,
  type PeerLinkOptions,
} from './peer-link-types.js';
import { LinkUpgrade } from './peer-link-upgrade.js';
export type { LinkConnector, LinkPath, PeerLinkOptions } from './peer-link-types.js';

export class PeerLink {
  readonly remote: string;
  readonly session: SecureSession;
  readonly channel: ReliableChannel;
  readonly #o: PeerLinkOptions;
  #path: PunchedPath | undefined;
  #pathOffs: (() => void)[] = [];
  /** Punching for a better path, and again later: peer-link-upgrade.ts. */
  readonly #upgrade: LinkUpgrade;
  #closed = false;
  #keyed = false;
  lastUsed: number;
  /** Datagrams dropped because the application was not keeping up (`paused`). */
  droppedWhilePaused = 0;
  /** The last datagram handled came in a connectivity check's answer (the first flight). */
  #lastRxInCheck = false;
  /** Check answers waiting for our punch to settle (handleCheckResponse). */
  #checkAnswers: Uint8Array[] = [];
  /** The rung last told through `onPath`: an event goes out only when `path` changes. */
  #reported: LinkPath = 'server';
  /** The current path's kind when adopted (a trickled relayed candidate can relabel it). */
  #adoptedKind: LinkPath = 'server';
  /** Heard on the current path: its quiet and stall rules. */
  readonly #hearing = new PathHearing();
  /**
   * While a datagram is handled: `path` as first read for it. Each notification it carries (to
   * the Inbox) and each it acks (to the Outbox) asks for the path, and `carries` reads the clock
   * (key expiry): once per datagram, not once per notification. Forgotten whenever the path or
   * the keys change (`#report`, `adopt`, `#down`, `close`), so it is never older than they are.
   */
  #handling = false;
  #handlingPath: LinkPath | undefined;

  constructor(o: PeerLinkOptions) {
    this.#o = o;
    this.remote = o.remote;
    this.lastUsed = o.clock.now();
    this.#upgrade = new LinkUpgrade(o, {
      closed: () => this.#closed,
      established: () => this.session.established,
      path: () => this.#path,
      adopt: (p) => this.adopt(p),
      settled: () => {
        this.#flushCheckAnswers();
        // Checks that never took the held init: the handshake goes on the path we have now.
        this.session.releaseHold();
      },
    });
    this.session = new SecureSession({
      identity: o.identity,
      remotePeerId: o.remote,
      clock: o.clock,
      logger: o.logger,
      send: (d) => this.#o.sendP2p(d),
    });
    // One dedupe table: the Inbox's per (sender, id) sees every rung; the channel's own per-id
    // set (dedupeCapacity) would only repeat its work (~0.14 µs per notification).
    const options = { dedupeCapacity: 0 };
    const { clock, logger } = o;
    this.channel = new ReliableChannel({ session: this.session, clock, logger, options });
    this.channel.onNotification((n) => o.onNotification(n, this.path));
    this.session.onEstablished(() => {
      this.#report(); // keys on a path adopted before the handshake finished: it carries now
      this.#upgrade.maybe();
    });
  }

  /**
   * The rung a notification sent now takes: the UDP path only once it carries (a path is up AND
   * the session has keys). A path adopted while the handshake is out — the Noise IK responder
   * has no keys until the initiator's first transport message arrives (key confirmation), an
   * init may be lost — is not the rung yet: notifications still go through the server, and
   * `direct` here then sent a whole burst there (CI: 0 of 100 direct in ladder.test.ts).
   */
  get path(): LinkPath {
    if (this.#handling) return (this.#handlingPath ??= this.#pathNow());
    return this.#pathNow();
  }

  #pathNow(): LinkPath {
    return this.carries ? this.#path!.kind : 'server';
  }

  /** True when notifications should ride this link (a UDP path and live keys). */
  get carries(): boolean {
    return this.#path !== undefined && !this.#path.closed && this.session.established;
  }

  get rttMs(): number | undefined {
    return this.channel.rttMs;
  }

  /** Why the last attempt at a direct path failed, for `natpush ping`. */
  get lastPunchError(): string | undefined {
    return this.#upgrade.lastError;
  }

  /** Initiate: fetch the remote's key, start the handshake (over whatever path is up). */
  async start(): Promise<void> {
    if (this.#closed) return;
    this.#report(); // keys that expired unnoticed on a quiet link: say so before a new handshake
    // The punch does not wait for the key lookup and the handshake: candidates are exchanged
    // through serve (which authenticated both ends at login) while the Noise IK crosses it, and
    // the session moves onto the path when it is up. Whatever rides it is still end-to-end.
    this.#upgrade.maybe(true);
    if (!this.#keyed) {
      const key = await this.#o.remoteKey();
      if (this.#closed) return;
      if (!this.session.remotePublicKey) this.session.setRemotePublicKey(key);
      this.#keyed = true;
    }
    if (this.session.state === 'closed') return;
    // A punch is on its way to its first checks: the init rides in them (see the header).
    if (this.#o.handshakeInChecks && this.#upgrade.punching && !this.carries)
      this.session.holdHandshake(CHECK_HANDSHAKE_HOLD_MS);
    this.session.connect(); // no-op while held
  }

  /** The init for our checks to carry (PunchConnector.setHandshakes). */
  initForCheck(): Uint8Array | undefined {
    if (this.#closed) return undefined;
    return this.session.initForCheck();
  }

  /** An init from an authenticated check: the answer for its success response. */
  answerInCheck(d: Uint8Array): Uint8Array | undefined {
    if (this.#closed || this.#o.paused?.()) return undefined;
    this.lastUsed = this.#o.clock.now();
    this.#lastRxInCheck = true;
    let answer: Uint8Array | undefined;
    this.#handleOffPath(d, () => (answer = this.session.answerInCheck(d)));
    this.#upgrade.maybe();
    return answer;
  }

  /**
   * The answer from an authenticated check response. It comes with the check that selects the
   * path: while our punch is settling it waits the few microtasks until the path is adopted (or
   * the punch ends), so the app sees the path before what the answer carries (a pong).
   */
  handleCheckResponse(d: Uint8Array): void {
    if (this.#closed) return;
    this.lastUsed = this.#o.clock.now();
    if (this.#upgrade.punching) {
      if (this.#checkAnswers.length < MAX_CHECK_ANSWERS) this.#checkAnswers.push(d);
      return;
    }
    this.#lastRxInCheck = true;
    this.#handle(d);
  }

  #flushCheckAnswers(): void {
    for (const d of this.#checkAnswers.splice(0)) {
      if (this.#closed) return;
      this.#lastRxInCheck = true;
      this.#handle(d);
    }
  }

  /**
   * The datagram handled last came in a check's answer: read as a ping resolves, its pong (and
   * its ping, the 0-RTT data of the init answered) rode the punch's first checks.
   */
  get lastRxInCheck(): boolean {
    return this.#lastRxInCheck;
  }

  /** A session datagram that came in a `p2p` frame. */
  handleServerDatagram(d: Uint8Array): void {
    this.lastUsed = this.#o.clock.now();
    this.#lastRxInCheck = false;
    this.#handleOffPath(d, () => this.#handle(d));
  }

  #handle(d: Uint8Array): void {
    if (this.#o.paused?.()) {
      this.droppedWhilePaused++;
      return;
    }
    const outer = this.#handling; // a check answer handled from inside a datagram's handling
    this.#handling = true;
    this.#handlingPath = undefined;
    try {
      this.session.handle(d);
    } finally {
      this.#handling = outer;
      this.#handlingPath = undefined;
    }
    // The other side opened a session (its Noise init): when we are the pair's initiator, punch
    // now rather than when the session is confirmed (a round trip later). `from` is the peer
    // serve authenticated at login; the session still authenticates whatever rides the path.
    this.#upgrade.maybe();
  }

  notify(n: ChannelNotification, timeoutMs: number): Promise<void> {
    this.lastUsed = this.#o.clock.now();
    return this.channel.send(n, { timeoutMs });
  }

  /** `notify` without a promise (ReliableChannel.post): `done` once, with the error if any. */
  post(n: ChannelNotification, timeoutMs: number, done: (err?: Error) => void): void {
    this.channel.post(n, done, { timeoutMs });
    this.lastUsed = this.channel.turnNow(); // the channel's one clock read for this burst
  }

  ping(timeoutMs: number): Promise<number> {
    const sentAt = (this.lastUsed = this.#o.clock.now());
    // On the UDP path when it carries (else the ping crosses the server and says nothing of it).
    const p = this.carries ? this.#path : undefined;
    const pinged = this.channel.ping(timeoutMs);
    if (p) pinged.catch((err: unknown) => this.#pingMissed(p, sentAt, err));
    return pinged;
  }

  /** A ping on `p` got no pong: two in a row with nothing heard on `p` drop it (path-hearing.ts). */
  #pingMissed(p: PunchedPath, sentAt: number, err: unknown): void {
    if (this.#path !== p || p.closed) return;
    if ((err as { code?: string } | undefined)?.code !== SessionErrorCode.SEND_TIMEOUT) return;
    const reason = this.#hearing.pingMissed(this.#o.clock.now(), sentAt);
    if (reason !== undefined) this.#down(p, reason);
  }

  /** A path punched by the other side (`connector.onIncoming`). */
  adopt(p: PunchedPath): void {
    if (this.#closed) return p.close();
    if (this.#path === p) return; // our own connect joined this punch: adopted already
    // Taken whatever we had, on both sides alike (see AGREEMENT in peer-link-types.ts): a punch
    // ends with both sides holding the same new pair, and a side punches only when it has no
    // path it trusts — so the path we hold is of no use to the remote any more.
    const old = this.#path;
    const fromUdp = old !== undefined && !old.closed;
    for (const off of this.#pathOffs.splice(0)) off();
    old?.close();
    this.#path = p;
    this.#handlingPath = undefined;
    this.#hearing.adopted(this.#o.clock.now());
    this.#adoptedKind = p.kind;
    this.#pathOffs.push(
      p.onData((d) => {
        this.#lastRxInCheck = false;
        this.#hearing.heard(this.#o.clock.now());
        if (p.kind !== this.#adoptedKind) this.#relabelled(p);
        this.#handle(d);
        this.#hearing.handled(this.channel.inFlight);
      }),
      p.onDead((reason) => this.#down(p, `consent lost: ${reason}`)),
      p.onRepunchNeeded(() => this.#down(p, 'the remote address changed (NAT rebinding)')),
      // Relay → direct under the punch (punch/pair-upgrade.ts): say so; resend what the relayed
      // pair carried, the remote now takes datagrams on the direct pair only.
      p.onSwitched?.(() => {
        this.#relabelled(p);
        this.channel.pathChanged(p.rttMs);
      }) ?? (() => {}),
    );
    this.session.setSend(this.#via(p));
    // In flight on a UDP path we close may be lost with it: resend. From the server rung (a
    // WebSocket) it arrives: a resend only copied it (39 of 409 packets, path-move-resend.test).
    if (fromUdp) this.channel.pathChanged(p.rttMs);
    this.#flushCheckAnswers();
    // An init unanswered (in the checks, or on the old path): again, on this path, at once.
    this.session.retryCheckInit();
    this.#report(); // with keys it carries now; else the event waits for onEstablished
    this.#upgrade.adopted(p.kind);
  }

  /**
   * The path selected as direct turned out to run through the remote's relay (its relayed
   * candidate, signalled after its check from the relay made it peer-reflexive here:
   * checklist.ts). Say so, and try for a real direct path later as after any relay result.
   */
  #relabelled(p: PunchedPath): void {
    this.#adoptedKind = p.kind;
    this.#report();
    if (p.kind === 'relay') this.#upgrade.ranThroughRelay();
  }

  /** Drop the current UDP path (tests kill it; the ladder calls this when it dies). */
  dropPath(reason = 'closed by the application'): void {
    if (this.#path) this.#down(this.#path, reason);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlingPath = undefined;
    this.#checkAnswers = [];
    this.#upgrade.close();
    for (const off of this.#pathOffs.splice(0)) off();
    this.#path?.close();
    this.#path = undefined;
    this.channel.close();
    this.session.close();
  }

  /** Tell the app the rung when it changed since the last event (see `path`). */
  #report(reason?: string): void {
    this.#handlingPath = undefined; // keys or path may have changed: read them again
    const now = this.path;
    if (this.#closed || now === this.#reported) return;
    this.#reported = now;
    this.#o.onPath({ path: now, ...(reason !== undefined ? { reason } : {}) });
  }

  /**
   * Sends on `p` while it is ours. Data in flight and nothing from the remote on the path for
   * STALL_MS (path-hearing.ts): the remote does not send on it (it dropped it, or never took it)
   * or it died one way — drop it now rather than at consent's 30 s. Checked as we send (a
   * retransmission comes at the latest one backed-off RTO later), so no timer runs.
   */
  #via(p: PunchedPath): (d: Uint8Array) => void {
    let dropping = false;
    return (d) => {
      if (this.#path !== p || p.closed || dropping) return this.#o.sendP2p(d);
      const now = this.#o.clock.now();
      this.#hearing.sending(now, this.channel.inFlight);
      const stalled = this.#hearing.stalled(now, this.channel.inFlight);
      if (stalled === undefined) return p.send(d);
      // Dropped after this send returns: we may be inside the channel's flush, and `#down`
      // makes the channel resend what is in flight (on the server rung, then).
      dropping = true;
      queueMicrotask(() => this.#down(p, stalled));
      this.#o.sendP2p(d);
    };
  }

  /**
   * `d` came off our UDP path. A new session from the remote (an init accepted) while ours was
   * established means it has no path to us (it restarted, or its side died): ours leads nowhere
   * and consent would take 30 s to say so. Drop it; answer an init from the server there.
   */
  #handleOffPath(d: Uint8Array, handle: () => void): void {
    const p = this.#path;
    const answered = this.session.stats.handshakesAnswered;
    const stale =
      p !== undefined && this.session.established && d[0] === MessageKind.HANDSHAKE_INIT;
    if (stale) this.session.setSend((x) => this.#o.sendP2p(x));
    handle();
    if (!stale || this.#path !== p) return;
    if (
      this.session.stats.handshakesAnswered > answered &&
      this.#hearing.quiet(this.#o.clock.now())
    )
      this.#down(p, 'the remote opened a new session off this path (restarted, or lost its path)');
    else this.session.setSend(this.#via(p));
  }

  #down(p: PunchedPath, reason: string): void {
    if (this.#path !== p) return;
    for (const off of this.#pathOffs.splice(0)) off();
    this.#path = undefined;
    this.#handlingPath = undefined;
    p.close();
    this.session.setSend((d) => this.#o.sendP2p(d));
    this.channel.pathChanged();
    this.#o.logger.info('path down', { peer: this.remote, kind: p.kind, reason });
    this.#report(reason);
    this.#upgrade.down(reason);
  }
}
