/**
 * The hard-NAT step of one punch (issue 11), run beside the ordinary checks from the coordinated
 * start. Which step comes from both sides' NAT facts (nat-facts.ts `hardNatRole`):
 *
 * | role           | this side does                                                         |
 * | -------------- | ---------------------------------------------------------------------- |
 * | birthday, easy | sprays probes from its one socket at random ports of the hard side's    |
 * |                | public address (birthday.ts `runEasySide`, paced, bounded, time-limited)|
 * |                | and adds the port that answered as a peer-reflexive remote candidate:   |
 * |                | its own check agent then checks and selects it as usual                 |
 * | birthday, hard | opens many sockets toward the easy side's mapped address (`hooks.       |
 * |                | birthdayHard`, the Peer's birthday layer), and checks the one that got  |
 * |                | a probe with the session's credentials (side-path.ts)                   |
 * | prediction     | a preserving side punches from the fresh socket whose port it sent      |
 * |                | (`preservedPort`, `hooks.claimPreserved`) toward the other side's       |
 * |                | preserved port or its top server-reflexive candidate (side-path.ts);    |
 * |                | the other side checks that preserved port first (`predictionRemotes`)   |
 * | relay          | nothing: the connector nominates the relay without the direct grace     |
 * | anything else  | nothing: mapped / predicted candidates already carry the technique      |
 *
 * The ordinary checks keep running meanwhile: whichever selects first wins, and the relay stays
 * the fallback once the step's time limit is over (`graceFor`).
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { planBirthday, runEasySide } from './birthday.js';
import type { Candidate } from './candidates.js';
import { candidatePriority } from './candidates.js';
import { predictedPriority } from './predicted-candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import type { CheckAgent, CheckHandshake } from './checks.js';
import { PUNCH_DEFAULTS } from './constants.js';
import type { HardNatRole, WireNatFacts } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import { punchSidePath } from './side-path.js';

/**
 * Birthday probing gives up after this long (birthday.ts plans the spray to end well inside it:
 * 2048 probes at 4 per 2 ms ≈ 1 s). 8 s keeps an attempt far inside issue 11's 20 s and leaves
 * the relay fallback (after `graceFor`) before the checks' own 15 s timeout.
 */
export const BIRTHDAY_STEP_LIMIT_MS = 8_000;

/**
 * Birthday probing starts this long after the ordinary checks, and only if none of them got
 * through by then (punch-run.ts): where the ordinary punch works (a symmetric side facing a
 * restricted cone, which answers the symmetric side's real source) it has selected or heard a
 * check well within 1 s at 100 ms round trips, and then no second path on another socket
 * competes with it. The cost where birthday is needed: 1 s more to direct.
 */
export const BIRTHDAY_DEFER_MS = 1_000;

/** What the Peer lends the connector for the hard-NAT step. */
export interface HardNatHooks {
  /** This side's NAT facts now (sent in every `candidates` and `offer` frame). */
  facts(): WireNatFacts | undefined;
  /**
   * The hard side of birthday probing: open many sockets toward `easy`, resolve with the one a
   * probe from `easy`'s address reached (the others closed), undefined after `limitMs` or abort.
   */
  birthdayHard?(
    easy: Endpoint,
    o: { limitMs: number; signal: AbortSignal },
  ): Promise<{ socket: UdpSocket; remote: Endpoint } | undefined>;
  /**
   * The fresh socket whose local port this side sent as `preservedPort` (nat-facts.ts), handed
   * over once (the caller owns it from then on); undefined when it is gone (another punch took
   * it, or the layer closed). A new one is reserved for the next offer.
   */
  claimPreserved?(port: number): UdpSocket | undefined;
  /** A punch's checks begin (each is ended by exactly one `punchEnded`). */
  punchStarted?(o: { peer: string }): void;
  /**
   * A punch ended (`direct`: on a direct path). Each punch's checks made new mappings on our
   * NAT, so a sequential NAT's counter moved past what the last measurement predicted: the
   * prediction layer looks at where it is now, for the next punch (a re-punch after the relay).
   */
  punchEnded?(o: { direct: boolean; peer: string }): void;
}

/**
 * How long the controlling side waits for the prediction's direct pair before it nominates the
 * relay: the preserved-socket checks start with the ordinary ones and cross in one or two
 * retransmissions (0.2, 0.6 s); 4 s is the base grace plus a second for the second socket.
 */
export const PREDICTION_GRACE_MS = 4_000;
/** The direct grace for the agent (PUNCH_DEFAULTS.directGraceMs when the step changes nothing). */
export function graceFor(role: HardNatRole, base: number): number {
  if (role.kind === 'relay') return 0; // nothing direct can work: nominate the relay at once
  if (role.kind === 'birthday')
    return Math.max(base, BIRTHDAY_DEFER_MS + BIRTHDAY_STEP_LIMIT_MS + 1_000);
  if (role.kind === 'prediction' && role.ownPreserved !== undefined)
    return Math.max(base, PREDICTION_GRACE_MS);
  return base;
}

/**
 * Remote candidates the prediction adds to the ordinary checks, before they start: the other
 * side's preserved port on its public address, ranked first (predictedPriority(0)) so that it
 * is our first new destination — on a sequential NAT of ours that is the mapping we predicted
 * first. Not when we punch from a preserved socket ourselves: a check from our one socket
 * would only spend a mapping (and on a preserving NAT that socket's port is taken already).
 */
export function predictionRemotes(role: HardNatRole, remote: readonly Candidate[]): Candidate[] {
  if (role.kind !== 'prediction' || role.peerPreserved === undefined) return [];
  if (role.ownPreserved !== undefined) return [];
  const mapped = stunMapped(remote);
  if (!mapped) return [];
  return [
    {
      type: 'srflx',
      address: mapped.address,
      port: role.peerPreserved,
      priority: predictedPriority(0),
    },
  ];
}

/** Does the step find its path on a socket of its own (the session must wait for it)? */
export function sidePathStep(role: HardNatRole): boolean {
  return (
    (role.kind === 'birthday' && role.side === 'hard') ||
    (role.kind === 'prediction' && role.ownPreserved !== undefined)
  );
}

export interface HardNatStepContext {
  role: HardNatRole;
  agent: CheckAgent;
  /** The peer's one socket (the easy side probes from it: its mapping is the known one). */
  socket: UdpSocket;
  remoteCandidates: readonly Candidate[];
  sessionRole: Role;
  local: IceCredentials;
  remoteCreds: IceCredentials;
  hooks: HardNatHooks | undefined;
  handshake: CheckHandshake;
  clock: Clock;
  logger: Logger;
  /** The hard side's socket got through and its check selected: the session's path. */
  onPath(path: PunchedPath): void;
  /** That path closed. */
  onPathClosed(): void;
}

export interface HardNatStep {
  /** The step has not ended yet (a side path may still come). */
  readonly pending: boolean;
  /** Resolves when the step ended (found a path, gave up or was cancelled). */
  readonly done: Promise<void>;
  cancel(): void;
}

/** The server-reflexive candidate STUN saw (the lowest-priority srflx: mapped/predicted rank above). */
function stunMapped(cs: readonly Candidate[]): Candidate | undefined {
  return cs.filter((c) => c.type === 'srflx').sort((a, b) => a.priority - b.priority)[0];
}

export function startHardNatStep(ctx: HardNatStepContext): HardNatStep {
  const abort = new AbortController();
  let pending = true;
  const end = (): void => {
    pending = false;
  };
  const done = run(ctx, abort.signal).then(end, (err: unknown) => {
    end();
    ctx.logger.debug('hard-NAT step ended', { err: String(err) });
  });
  return {
    get pending() {
      return pending;
    },
    done,
    cancel: () => abort.abort(),
  };
}

async function run(ctx: HardNatStepContext, signal: AbortSignal): Promise<void> {
  if (ctx.role.kind === 'prediction') return runPreserved(ctx, ctx.role, signal);
  if (ctx.role.kind !== 'birthday') return;
  const mapped = stunMapped(ctx.remoteCandidates);
  if (!mapped) return ctx.logger.debug('birthday: no mapped address of the peer');
  const t0 = ctx.clock.now();
  if (ctx.role.side === 'easy') {
    const plan = planBirthday({ timeLimitMs: BIRTHDAY_STEP_LIMIT_MS, exclude: [mapped.port] });
    const hit = await runEasySide({ clock: ctx.clock }, ctx.socket, mapped.address, plan, signal);
    ctx.logger.info('birthday probing (easy side)', {
      ok: hit !== undefined,
      probes: hit?.probesSent ?? plan.probePorts.length,
      expected: Number(plan.expectedSuccess.toFixed(4)),
      ms: ctx.clock.now() - t0,
    });
    if (!hit || signal.aborted) return;
    // The port that answered: the ordinary agent checks it (and selects it) like any other.
    ctx.agent.addRemote({
      type: 'prflx',
      address: hit.remote.address,
      port: hit.remote.port,
      priority: candidatePriority('prflx'),
    });
    return;
  }
  if (!ctx.hooks?.birthdayHard) return;
  const got = await ctx.hooks.birthdayHard(
    { address: mapped.address, port: mapped.port },
    { limitMs: BIRTHDAY_STEP_LIMIT_MS, signal },
  );
  ctx.logger.info('birthday probing (hard side)', {
    ok: got !== undefined,
    ms: ctx.clock.now() - t0,
  });
  if (!got) return;
  if (signal.aborted) {
    await got.socket.close();
    return;
  }
  await sidePath(ctx, got.socket, got.remote, signal);
}

/**
 * The preserving side: check the one pair (our reserved socket → the other side's preserved
 * port, or its top srflx: a sequential side's first predicted port, or a cone's mapping) with
 * the session's credentials. The socket's first packet goes to the peer, so its mapping is the
 * port we sent; the other side's first packets may be dropped by our NAT until then, and the
 * retransmissions (0.2, 0.6 s) cross.
 */
async function runPreserved(
  ctx: HardNatStepContext,
  role: Extract<HardNatRole, { kind: 'prediction' }>,
  signal: AbortSignal,
): Promise<void> {
  if (role.ownPreserved === undefined) return;
  const socket = ctx.hooks?.claimPreserved?.(role.ownPreserved);
  if (!socket) return ctx.logger.debug('prediction: the preserved socket is gone');
  const top = [...ctx.remoteCandidates]
    .filter((c) => c.type === 'srflx')
    .sort((a, b) => b.priority - a.priority)[0];
  const mapped = stunMapped(ctx.remoteCandidates);
  const remote =
    role.peerPreserved !== undefined && mapped
      ? { address: mapped.address, port: role.peerPreserved }
      : top && { address: top.address, port: top.port };
  if (!remote || signal.aborted) {
    await socket.close();
    return ctx.logger.debug('prediction: no public address of the peer');
  }
  ctx.logger.info('port prediction (preserved socket)', {
    port: role.ownPreserved,
    remote: `${remote.address}:${remote.port}`,
  });
  await sidePath(ctx, socket, remote, signal);
}

/** Check one pair on a socket of its own; the selected path goes to `ctx.onPath`. */
async function sidePath(
  ctx: HardNatStepContext,
  socket: UdpSocket,
  remote: Endpoint,
  signal: AbortSignal,
): Promise<void> {
  const path = await punchSidePath({
    socket,
    remote,
    role: ctx.sessionRole,
    local: ctx.local,
    remoteCreds: ctx.remoteCreds,
    clock: ctx.clock,
    logger: ctx.logger,
    handshake: ctx.handshake,
    timeoutMs: PUNCH_DEFAULTS.punchTimeoutMs,
    signal,
    onClose: ctx.onPathClosed,
  });
  if (signal.aborted) return path.close();
  ctx.onPath(path);
}
