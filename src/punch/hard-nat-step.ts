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
}

/** The direct grace for the agent (PUNCH_DEFAULTS.directGraceMs when the step changes nothing). */
export function graceFor(role: HardNatRole, base: number): number {
  if (role.kind === 'relay') return 0; // nothing direct can work: nominate the relay at once
  if (role.kind === 'birthday')
    return Math.max(base, BIRTHDAY_DEFER_MS + BIRTHDAY_STEP_LIMIT_MS + 1_000);
  return base;
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
  const path = await punchSidePath({
    socket: got.socket,
    remote: got.remote,
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
