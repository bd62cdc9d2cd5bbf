/**
 * Coordinated punching over the signaling server (the DCUtR idea, libp2p
 * `protocol-dcutr`: measure, exchange, start together), with ICE checks (RFC 8445) on one socket.
 *
 * The frames and a punch's sequence diagram: punch-signals.ts.
 *
 * Without an offer at serve (B not warm, or two punches toward B at once) B answers with its own
 * `candidates` and `punch`, one signaling round trip later. Either side may start (`connect`);
 * a `connect` joins a punch with the same peer that is running, and glare — both started before
 * either heard of the other — ends in the lower peer id's session (`localPeerId`).
 *
 * The signaling side is injected (CONTRACTS §4): exactly what `Peer` offers.
 *
 * What each signaling frame does to a session — the answering side, glare, serve's answers, the
 * end of punches on a lost relay allocation — is in session-lifecycle.ts; this file owns the
 * socket, the gatherer, the tables, and the initiating side (`connect`).
 */
import { randomBytes } from 'node:crypto';
import { StunTransactions } from '../stun/transaction.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { CandidateGatherer } from './candidates.js';
import type { Role } from './check-message.js';
import { newIceCredentials } from './check-message.js';
import { PUNCH_DEFAULTS, PUNCH_LIMITS } from './constants.js';
import { SocketDemux } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { WireNatFacts } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import { runChecks, type RunContext } from './punch-run.js';
import { SessionLifecycle } from './session-lifecycle.js';
import { WarmOffers } from './warm-offers.js';
import { permitRemote, RelayBase } from './relay-base.js';
import { SessionTable } from './session-table.js';
import { SilentDirect } from './silent-direct.js';
import type { IncomingPunch, PunchConnectorOptions } from './connector-options.js';
import type { PeerHandshakes, PunchSignalOut, WireCandidate } from './punch-signals.js';
import { creds } from './punch-signals.js';
import { abortable, type Session } from './punch-session.js';
import { endReason, punchEndFrame, type PunchEndReason } from './punch-end.js';

export type { IncomingPunch, PunchConnectorOptions } from './connector-options.js';
export type {
  PeerHandshakes,
  PunchSignalIn,
  PunchSignalOut,
  PunchSignaling,
  WireCandidate,
} from './punch-signals.js';

export class PunchConnector {
  readonly demux: SocketDemux;
  readonly #o: PunchConnectorOptions;
  readonly #log: Logger;
  readonly #gatherer: CandidateGatherer;
  readonly #socketTx: StunTransactions;
  /** The TURN relay as a base for checks (its transactions, the relayed data into the demux). */
  readonly #relay: RelayBase;
  /** The punches running, and the routing of checks and early data to them. */
  readonly #sessions = new SessionTable();
  readonly #incoming = new Set<(p: IncomingPunch) => void>();
  readonly #offs: (() => void)[] = [];
  /** Candidates gathered ahead of time, and the offers registered with serve. */
  readonly #warm: WarmOffers;
  /** Direct pairs that stayed silent in the last punch with each peer. */
  readonly #silent = new SilentDirect();
  /** What the signaling frames do to the sessions (session-lifecycle.ts). */
  readonly #life: SessionLifecycle;
  #handshakes: PeerHandshakes | undefined;
  #closed = false;

  constructor(options: PunchConnectorOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.demux = new SocketDemux(options.socket, { logger: this.#log });
    this.#socketTx = new StunTransactions({
      send: (b, to) => options.socket.send(b, to),
      clock: options.clock,
      logger: this.#log,
      maxPending: PUNCH_DEFAULTS.maxPendingChecks * PUNCH_LIMITS.maxSessions,
    });
    const turnCredentials = options.signaling.turnCredentials?.bind(options.signaling);
    this.#gatherer = new CandidateGatherer({
      socket: options.socket,
      transactions: this.#socketTx,
      clock: options.clock,
      logger: this.#log,
      interfaces: options.interfaces,
      ...(options.stunServer ? { stunServer: options.stunServer } : {}),
      ...(options.turnServer && turnCredentials
        ? {
            turn: {
              server: options.turnServer,
              ...(options.turnTcpServer ? { tcpServer: options.turnTcpServer } : {}),
              credentials: turnCredentials,
            },
          }
        : {}),
      ...(options.gatherTimeoutMs ? { gatherTimeoutMs: options.gatherTimeoutMs } : {}),
      ...(options.extraCandidates ? { extraCandidates: options.extraCandidates } : {}),
    });
    this.#relay = new RelayBase({
      gatherer: this.#gatherer,
      socket: options.socket,
      demux: this.demux,
      clock: options.clock,
      logger: this.#log,
      closed: () => this.#closed,
    });
    this.#warm = new WarmOffers({
      gatherer: this.#gatherer,
      clock: options.clock,
      signaling: options.signaling,
      registerOffers: options.registerOffers === true,
      facts: () => this.#facts(),
      onGathered: () => this.#relay.use(this.#gatherer.relay),
      closed: () => this.#closed,
    });
    this.#life = new SessionLifecycle({
      options,
      log: this.#log,
      sessions: this.#sessions,
      gatherer: this.#gatherer,
      relay: this.#relay,
      warm: this.#warm,
      incoming: this.#incoming,
      closed: () => this.#closed,
      newSession: (peer, rid, role, local) => this.#newSession(peer, rid, role, local),
      endSession: (s, why) => this.#endSession(s, why),
      runContext: () => this.#runContext,
      facts: () => this.#facts(),
      send: (frame) => this.#send(frame),
      registerOffer: () => this.registerOffer(),
    });
    this.#offs.push(
      this.demux.on('stun-response', (d, from, via) => {
        // A forged answer to a check never reaches the engine: the check goes on.
        if (this.#sessions.screenResponse(d) === 'forged') return;
        (via === 'relay' ? this.#relay.tx : this.#socketTx)?.handle(d, from);
      }),
      this.demux.on('stun-request', (d, from, via) => this.#sessions.routeRequest(d, from, via)),
      this.demux.on('session', (d, from, via) => this.#sessions.keepEarlyData(d, from, via)),
      options.signaling.onSignal((f) => this.#life.onSignal(f)),
      this.#gatherer.onRelayChange((r, lost) => {
        // Before `use` closes the dead allocation's transactions. Only a relay that went silent
        // (died): after a 437 (our NAT rebound, the relay lives) the new allocation is trickled
        // into the running punches below, whose direct pairs may well succeed
        // (netsim direct-resilience: a re-punch after a symmetric NAT's flush).
        if (!r && lost?.silent) this.#life.endRelayed();
        this.#relay.use(r);
        this.#warm.prewarm(); // the relayed candidate changed: what we hand out must too
        if (r) this.#relay.trickle(r, this.#sessions.values(), this.#o.signaling);
      }),
    );
    // Gather now, not inside each connect / answer: both sides then send candidates at once.
    this.#warm.prewarm();
  }

  /**
   * Re-gather in the background when the interfaces changed (a network change) — the socket's
   * mapping and host addresses are then new — or to refresh what `connect` hands out.
   */
  refreshCandidates(): void {
    this.#silent.clear(); // new addresses: every pair is new
    this.#warm.prewarm();
  }

  /**
   * Carry session handshakes in the checks (the init in our checks, the answer in our success
   * responses): the first direct round trip then sets up the session too. Unset: plain checks.
   */
  setHandshakes(h: PeerHandshakes | undefined): void {
    this.#handshakes = h;
  }

  /** Punches toward this peer's side (`connect` from the other peer) as they arrive. */
  onIncoming(cb: (p: IncomingPunch) => void): () => void {
    this.#incoming.add(cb);
    return () => this.#incoming.delete(cb);
  }

  /**
   * A path to `peer`: joins a punch with it that is running (ours, or one the other side
   * started), else initiates one — exchange candidates, ask serve for a coordinated start, run
   * checks. One punch per pair at a time, whichever side asks first.
   */
  connect(peer: string, o: { signal?: AbortSignal } = {}): Promise<PunchedPath> {
    const running = this.#sessions.runningWith(peer);
    if (running?.path) return abortable(running.path, o.signal);
    const s = this.#newSession(peer, randomBytes(9).toString('base64url'), 'controlling');
    const path = this.#initiate(s, o.signal);
    s.path = path;
    path.catch(() => {}); // joiners get the same promise; the caller gets it too
    return path;
  }

  async #initiate(s: Session, signal?: AbortSignal): Promise<PunchedPath> {
    const peer = s.peer;
    this.#gatherer.ensureRelay(); // trickled when made; the direct candidates go now
    // An allocation that died unnoticed (its relay killed while no path of ours ran on it) is
    // found now, one Refresh, not at its scheduled one: lost, it ends this punch (session-lifecycle.ts endRelayed)
    // and the link re-punches onto the new allocation at once.
    this.#gatherer.checkRelay();
    try {
      const candidates = await this.#gatherFor(s, signal);
      const gotRemote = s.merged
        ? Promise.resolve({ path: s.merged }) // glare while we gathered: nothing to send
        : this.#life.waitCandidates(s, signal);
      // Awaited below; but if sending our candidates throws first (signaling not connected),
      // the catch ends the punch and nobody awaits it: its SIGNAL_TIMEOUT 10 s later must not
      // be an unhandled rejection (it crashed the peer's process in a netsim run).
      gotRemote.catch(() => {});
      if (!s.merged) {
        const offered = this.#relay.withRelay(candidates);
        const facts = this.#facts();
        this.#send({
          type: 'candidates',
          to: peer,
          rid: s.rid,
          candidates: offered,
          ...creds(s.local),
          ...facts,
        });
        s.sent = [...offered];
        s.sentNat = facts.nat;
      }
      const merged = await gotRemote;
      if (merged) {
        // Glare, and the other side's punch won: ours is dropped (the other side ignores it).
        this.#endSession(s);
        return await abortable(merged.path, signal);
      }
      const started = this.#life.waitStart(s, signal);
      // The answering side asks for the start itself, right behind its candidates (see
      // session-lifecycle.ts respond); ours is for one that does not, and a second punch-start is ignored.
      if (!s.start && !s.startComing) this.#send({ type: 'punch', to: peer, rid: s.rid });
      const { at, rtt } = await started;
      return await runChecks(this.#runContext, s, at, rtt, signal);
    } catch (err) {
      this.#endSession(s, endReason(err));
      if (s.merged && !signal?.aborted) return await abortable(s.merged, signal); // glare
      throw err;
    }
  }

  /**
   * The candidates for `s`'s punch. The wait ends early when the punch ends meanwhile: `close()`
   * (and glare) end it through `s.cancelWait`, as they end its later waits, and an abort of the
   * connect ends the gather itself (warm-offers.ts). Without this a punch closed while it
   * gathered went on to send its `candidates` (and `punch`, then `punch-end`) through serve
   * after close: a closed peer kept signaling. The gather's own Binding is ended by the close of
   * the connector's transactions; the relay allocation asked for (`ensureRelay`) is released by
   * the gatherer's close, or as it comes back if it was in flight (candidates.ts `#allocate`).
   */
  #gatherFor(s: Session, signal?: AbortSignal): Promise<WireCandidate[]> {
    return new Promise<WireCandidate[]>((resolve, reject) => {
      const cancel = (err: Error): void => reject(err);
      s.cancelWait = cancel;
      this.#warm.gather(signal).then(
        (cs) => {
          if (s.cancelWait === cancel) s.cancelWait = undefined;
          // Closed between the gather's end and this step: nothing of the punch goes out.
          if (this.#closed) reject(new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed'));
          else resolve(cs);
        },
        (err: unknown) => {
          if (s.cancelWait === cancel) s.cancelWait = undefined;
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /**
   * Register a fresh offer with serve now (after a reconnect: serve forgot the old one with the
   * connection). No-op unless `registerOffers`.
   */
  registerOffer(): void {
    if (!this.#o.registerOffers || this.#closed) return;
    this.#warm.registerOffer();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#warm.close();
    for (const off of this.#offs) off();
    this.#relay.detach();
    for (const s of [...this.#sessions.values()]) {
      s.agent?.close();
      s.cancelWait?.(new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed'));
      this.#endSession(s, 'closed');
    }
    this.#socketTx.close(new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed'));
    this.#relay.close();
    this.demux.close();
    await this.#gatherer.close();
  }

  // ─── session steps ───────────────────────────────────────────────────────────────────────

  #newSession(peer: string, rid: string, role: Role, local = newIceCredentials()): Session {
    if (this.#closed) throw new PunchError(PUNCH_ERR.CLOSED, 'punch connector closed');
    return this.#sessions.add(peer, rid, role, local);
  }

  /**
   * `s` leaves the table. One that ended without a path tells the other side (`why`), so that
   * its side of the punch ends now, not at its timeout (punch-end.ts). Best effort: when
   * signaling is down, or serve does not take `punch-end`, the other side times out as before.
   */
  #endSession(s: Session, why: PunchEndReason = 'failed'): void {
    this.#sessions.end(s);
    const frame = punchEndFrame(s, why);
    if (!frame || this.#o.signaling.sendSignal(frame)) return;
    this.#log.debug('punch-end not sent (not connected, or serve does not take it)', {
      peer: s.peer,
      rid: s.rid,
    });
  }

  get #runContext(): RunContext {
    return {
      options: this.#o,
      log: this.#log,
      demux: this.demux,
      socketTx: this.#socketTx,
      relay: () => this.#gatherer.relay,
      checkRelay: () => this.#gatherer.checkRelay(),
      relayTx: () => this.#relay.tx,
      handshakes: () => this.#handshakes,
      sendVia: (b, to, via) => this.#relay.sendVia(b, to, via),
      permit: (r, cs) => permitRemote(r, cs),
      endSession: (s, why) => this.#endSession(s, why),
      silent: this.#silent,
    };
  }

  /** Our NAT facts for a frame (none without the hard-NAT hooks). */
  #facts(): { nat?: WireNatFacts } {
    const nat = this.#o.hardNat?.facts();
    return nat ? { nat } : {};
  }

  #send(frame: PunchSignalOut): void {
    if (!this.#o.signaling.sendSignal(frame))
      throw new PunchError(PUNCH_ERR.NOT_CONNECTED, 'signaling is not connected');
  }
}
