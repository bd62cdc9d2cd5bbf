/**
 * The checks of one punch (checks.ts) from the coordinated start to a selected path, with the
 * hard-NAT step beside them (hard-nat-step.ts): build the agent, start it at `punch-start.at`
 * in our clock, and settle with the first path selected — the agent's, or the one the step
 * found on its own socket — or with why none was.
 */
import type { Endpoint } from '../net/udp.js';
import type { TurnClient } from '../relay/index.js';
import type { StunTransactions } from '../stun/transaction.js';
import type { Logger } from '../util/logger.js';
import type { Candidate } from './candidates.js';
import { candidatePriority } from './candidates.js';
import { newTieBreaker } from './check-message.js';
import { CheckAgent } from './checks.js';
import type { PunchConnectorOptions } from './connector-options.js';
import { PUNCH_DEFAULTS } from './constants.js';
import type { SocketDemux, Via } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import {
  BIRTHDAY_DEFER_MS,
  graceFor,
  predictionRemotes,
  sidePathStep,
  startHardNatStep,
} from './hard-nat-step.js';
import { hardNatRole } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import { createPunchedPath } from './path.js';
import { MAPPED_CANDIDATE_PRIORITY } from './portmap/mapped-candidate.js';
import { predictedPriority } from './predicted-candidates.js';
import { pick, type Session } from './punch-session.js';
import type { PunchEndReason } from './punch-end.js';
import type { SilentDirect } from './silent-direct.js';
import type { PeerHandshakes } from './punch-signals.js';

/**
 * Remote candidates at or above this priority are predicted ports (predicted-candidates.ts type
 * preference 127, above every real type): a direct pair to one of them was made by prediction.
 */
const PREDICTED_MIN_PRIORITY = predictedPriority(255);

/** What a run needs of its connector. */
export interface RunContext {
  options: PunchConnectorOptions;
  log: Logger;
  demux: SocketDemux;
  socketTx: StunTransactions;
  relay(): TurnClient | undefined;
  /** Refresh our relay allocation now (a dead one is replaced: candidates.ts checkRelay). */
  checkRelay(): void;
  relayTx(): StunTransactions | undefined;
  handshakes(): PeerHandshakes | undefined;
  sendVia(bytes: Uint8Array, to: Endpoint, via: Via): void;
  permit(relay: TurnClient, remote: readonly Candidate[]): void;
  /** Take `s` out of the table; when it ended without a path, tell the other side `why`. */
  endSession(s: Session, why?: PunchEndReason): void;
  /** Direct pairs silent in the last punch with a peer (silent-direct.ts). */
  silent: SilentDirect;
}

/** The IPs of our relay: its server and our relayed address (checklist.ts `#atRelay`). */
export function relayIps(relay: TurnClient | undefined): string[] {
  if (!relay || relay.closed) return [];
  return [relay.server.address, relay.relayedAddress.address].filter((a) => a !== '');
}

/** Build the agent, wait for the coordinated start, check, and hand back the selected path. */
export function runChecks(
  ctx: RunContext,
  s: Session,
  at: number,
  rtt: number,
  signal?: AbortSignal,
): Promise<PunchedPath> {
  const remote = s.remote!;
  const relay = ctx.relay();
  const hard = hardNatRole(s.sentNat, remote.nat);
  if (hard.kind !== 'none') ctx.log.info('hard-NAT step', { peer: s.peer, ...hard });
  const handshake = {
    init: () => ctx.handshakes()?.init(s.peer),
    answer: (d: Uint8Array) => ctx.handshakes()?.answer(s.peer, d),
    response: (d: Uint8Array) => ctx.handshakes()?.response(s.peer, d),
  };
  const clock = ctx.options.clock;
  const grace = graceFor(hard, ctx.options.directGraceMs ?? PUNCH_DEFAULTS.directGraceMs);
  // Not with a hard-NAT step: its own path needs the agent to wait (graceFor).
  const silent = hard.kind === 'birthday' || hard.kind === 'prediction' ? undefined : ctx.silent;
  const silentDirect = silent?.of(s.peer, clock.now());
  const agent = new CheckAgent({
    role: s.role,
    tieBreaker: newTieBreaker(),
    local: s.local,
    remote: remote.creds,
    localPriority: { socket: candidatePriority('host'), relay: candidatePriority('relay') },
    transactions: {
      socket: ctx.socketTx,
      ...(relay && ctx.relayTx() ? { relay: ctx.relayTx() } : {}),
    },
    send: (bytes, to, via) => ctx.sendVia(bytes, to, via),
    relayAddresses: () => relayIps(ctx.relay()),
    clock: ctx.options.clock,
    logger: ctx.log,
    handshake,
    // RFC 8445 §14.3: a first RTO below the round trip only wastes packets; serve's measured
    // RTT to the slower side is the best guess we have of the direct one.
    checkRetransmission: {
      ...PUNCH_DEFAULTS.checkRetransmission,
      rtoMs: Math.max(PUNCH_DEFAULTS.checkRetransmission.rtoMs, Math.min(1_000, Math.round(rtt))),
    },
    ...pick(ctx.options, ['taMs', 'punchTimeoutMs', 'consentIntervalMs', 'consentTimeoutMs']),
    directGraceMs: grace,
    ...(silentDirect?.size ? { silentDirect } : {}),
  });
  let startedAt: number | undefined;
  const remember = (): void => {
    const now = clock.now();
    if (startedAt !== undefined) silent?.record(s.peer, agent.pairs(), now - startedAt, grace, now);
  };
  agent.onSwitched(remember); // a direct pair answered after all: not silent
  s.agent = agent;
  // The prediction's remotes first: they must be the agent's first new destinations.
  const predictedRemotes = predictionRemotes(hard, remote.candidates);
  for (const c of [...predictedRemotes, ...remote.candidates]) agent.addRemote(c);
  if (relay) ctx.permit(relay, remote.candidates);
  /** Remote endpoints only the prediction knows of: a pair to one of them is its success. */
  const predicted = new Set(
    [...predictedRemotes, ...remote.candidates]
      .filter((c) => c.priority >= PREDICTED_MIN_PRIORITY)
      .map((c) => `${c.address}:${c.port}`),
  );
  /** The other side's router port mapping (portmap/mapped-candidate.ts): a pair to it is its success. */
  const mapped = new Set(
    remote.candidates
      .filter((c) => c.priority === MAPPED_CANDIDATE_PRIORITY)
      .map((c) => `${c.address}:${c.port}`),
  );
  let direct = false;
  const ended = (path: 'direct' | 'relay' | 'failed', how: string): void => {
    direct = path === 'direct';
    if (hard.kind !== 'none') {
      ctx.log.info('hard-NAT result', { peer: s.peer, technique: hard.kind, path, how });
    }
  };
  const hooks = ctx.options.hardNat;
  hooks?.punchStarted?.({ peer: s.peer });
  for (const e of s.early.splice(0)) agent.handleRequest(e.msg, e.from, e.via);

  return new Promise<PunchedPath>((resolve, reject) => {
    let step: ReturnType<typeof startHardNatStep> | undefined;
    let settled = false;
    const settle = (v: PunchedPath | Error): void => {
      if (settled) return void (v instanceof Error ? undefined : v.close());
      settled = true;
      // Our NAT's counter moved with these checks (prediction-layer.ts looks again).
      hooks?.punchEnded?.({ direct: direct && !(v instanceof Error), peer: s.peer });
      s.cancelWait = undefined;
      signal?.removeEventListener('abort', onAbort);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const onAbort = (): void => {
      step?.cancel();
      agent.close();
      ctx.endSession(s, 'aborted');
      settle(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    s.cancelWait = (err) => {
      step?.cancel();
      settle(err);
    };
    agent.onSelected((pair) => {
      remember();
      step?.cancel();
      if (!settled) {
        const key = `${pair.remote.address}:${pair.remote.port}`;
        ended(
          pair.kind === 'relay' ? 'relay' : 'direct',
          pair.kind === 'relay'
            ? 'relay'
            : predicted.has(key)
              ? 'predicted port'
              : mapped.has(key)
                ? 'mapped port'
                : 'checks',
        );
      }
      settle(
        createPunchedPath({
          agent,
          pair,
          demux: ctx.demux,
          relay: ctx.relay(),
          early: s.earlyData.splice(0),
          onClose: () => ctx.endSession(s),
        }),
      );
    });
    // A path that died may have died with our relay (issue 12): Refresh it now, so a dead
    // relay is replaced at once, not at its next scheduled Refresh (~9 min).
    agent.onDead(() => ctx.checkRelay());
    // Sooner: one unanswered consent check (≤ ~10 s after the relay died, not 30) probes the
    // relay; a dead one is reported lost, the path on it dies (path.ts) and the gatherer
    // allocates on a live relay of the fleet. A Refresh every missed check is cheap.
    agent.onConsentMissed(() => ctx.checkRelay());
    agent.onFailed((reason) => {
      remember();
      agent.close();
      const fail = (): void => {
        if (settled) return;
        ctx.endSession(s, 'failed');
        ended('failed', reason);
        settle(new PunchError(PUNCH_ERR.FAILED, `punch with ${s.peer} failed: ${reason}`));
      };
      // The hard-NAT step may still find a path on its own socket: wait for it.
      if (step?.pending && sidePathStep(hard)) void step.done.then(fail);
      else fail();
    });
    let stopped = false;
    const startStep = (): void => {
      if (settled || stopped) return;
      if (hard.kind === 'prediction') {
        step = startHardNatStep(stepContext());
        return;
      }
      if (hard.kind !== 'birthday') return;
      // The ordinary checks already reach the other side (a check heard, or one answered on a
      // direct pair): they will select, and a birthday path beside them could make the two
      // sides select different pairs on different sockets. Birthday is for the pairs where
      // nothing direct gets through (a port-restricted cone facing a random symmetric NAT).
      if (agent.pairs().some((p) => p.kind === 'direct' && (p.heard || p.state === 'succeeded')))
        return ctx.log.debug('birthday not needed: the ordinary checks get through');
      step = startHardNatStep(stepContext());
    };
    const stepContext = (): Parameters<typeof startHardNatStep>[0] => ({
      role: hard,
      agent,
      socket: ctx.options.socket,
      remoteCandidates: remote.candidates,
      sessionRole: s.role,
      local: s.local,
      remoteCreds: remote.creds,
      hooks: ctx.options.hardNat,
      handshake,
      clock: ctx.options.clock,
      logger: ctx.log,
      onPath: (path) => {
        if (settled || agent.selected) return path.close();
        s.sideSelected = true;
        agent.close(); // the ordinary checks lost: the path is on the step's own socket
        ended('direct', hard.kind === 'prediction' ? 'preserved port' : 'birthday');
        settle(path);
      },
      onPathClosed: () => ctx.endSession(s),
    });
    const begin = (): void => {
      startedAt = clock.now();
      agent.start();
      if (hard.kind !== 'birthday' && hard.kind !== 'prediction') return;
      s.stopStep = () => {
        stopped = true;
        step?.cancel();
      };
      // Birthday waits to see whether the ordinary checks get through; the preserved socket
      // must send now, at the coordinated start, like the other side's checks toward it.
      if (hard.kind === 'prediction') startStep();
      else ctx.options.clock.setTimeout(startStep, BIRTHDAY_DEFER_MS);
    };
    // `at` is server time; ours = at − offset. Never wait absurdly long on a bad offset. The
    // controlled side starts a little ahead (PUNCH_DEFAULTS.controlledHeadStartMs) so that its
    // NAT is open when the controlling side's first check — the one whose answer selects the
    // path (aggressive nomination) — arrives.
    const head = s.role === 'controlled' ? PUNCH_DEFAULTS.controlledHeadStartMs : 0;
    const localAt = at - ctx.options.signaling.clockOffsetMs - head;
    const max = PUNCH_DEFAULTS.maxStartDelayMs;
    const delay = Math.min(max, Math.max(0, localAt - ctx.options.clock.now()));
    ctx.options.clock.setTimeout(begin, delay);
  });
}
