/**
 * A lab: real Linux NAT in network namespaces, built from a `LabSpec`, for tests and the CLI.
 *
 *   const lab = await Lab.create({ nats: [{ name: 'nat', preset: 'symmetric' }],
 *                                  hosts: [{ name: 'a', behind: 'nat' }] });
 *   const child = lab.spawn('a', 'node', ['client.js', lab.address('server')]);
 *   await lab.destroy();
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../src/util/logger.js';
import {
  BRIDGE_READY_TIMEOUT_MS,
  DEFAULT_CACHE_DIR,
  DEFAULT_EXEC_TIMEOUT_MS,
  DEFAULT_STATE_DIR,
  LAB_NAME_RE,
  LAB_RUN_DIR_SUFFIX,
  LOSS_SCALE,
  NAMESPACE_PREFIX,
  TAG_RE,
} from './constants.js';
import { delayBinary, delayRules, startDelayLine } from './delay.js';
import { NETSIM_ERR, NetsimError } from './errors.js';
import { miniupnpdFiles, startMiniupnpd } from './miniupnpd.js';
import { lossRuleset } from './nat-rules.js';
import { planLab, type LabPlan, type NodeInfo } from './plan.js';
import { checkPrerequisites } from './prereq.js';
import { run, runOk, type RunResult } from './shell.js';
import { normalizeSpec, type LabSpec } from './spec.js';
import {
  createRecord,
  listRecords,
  processAlive,
  readRecord,
  removeRecord,
  type LabRecord,
} from './state.js';
import {
  namespacesWithPrefix,
  registerExitCleanup,
  removeNamespaces,
  removeNamespacesSync,
  unregisterExitCleanup,
} from './teardown.js';

export interface LabOptions {
  /**
   * The lab's name; every namespace is `np-<name>-<node>`. Default: `<tag>-<random>`, unique.
   */
  name?: string;
  /**
   * Put into generated names so a test run can find its own labs. Default:
   * `process.env.NATPUSH_NETSIM_TAG` (set by test/support/global-setup.ts), else none.
   */
  tag?: string;
  /**
   * Keep the lab when this process exits (the CLI's `up`). Default false: the lab is removed
   * on exit and on SIGINT/SIGTERM/SIGHUP if `destroy()` was not called.
   */
  persistent?: boolean;
  /** Where lab records live. Default /run/natpush-netsim. */
  stateDir?: string;
  /** Where the compiled delay line is cached. Default /var/cache/natpush-netsim. */
  cacheDir?: string;
  logger?: Logger;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Killed (SIGKILL) after this long, and the promise rejects. Default 30 s. */
  timeoutMs?: number;
}

export type ExecResult = RunResult;

function labName(opts: LabOptions): string {
  if (opts.name !== undefined) {
    if (!LAB_NAME_RE.test(opts.name))
      throw new TypeError(`netsim: lab name must match ${LAB_NAME_RE}`);
    return opts.name;
  }
  const tag = opts.tag ?? process.env.NATPUSH_NETSIM_TAG;
  if (tag !== undefined && !TAG_RE.test(tag))
    throw new TypeError(`netsim: tag must match ${TAG_RE}`);
  // 6 base-32 characters: 2^30 names, plenty for labs living at once on one machine.
  const rand = randomBytes(4).readUInt32BE(0).toString(32).padStart(7, '0').slice(-6);
  return tag ? `${tag}-${rand}` : rand;
}

export class Lab {
  readonly name: string;
  /** Every namespace of the lab starts with `${prefix}-`. */
  readonly prefix: string;
  readonly #nodes: Map<string, NodeInfo>;
  readonly #namespaces: string[];
  readonly #stateDir: string;
  readonly #logger: Logger;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  private constructor(rec: LabRecord, stateDir: string, logger: Logger) {
    this.name = rec.name;
    this.prefix = rec.prefix;
    this.#nodes = new Map(rec.nodes.map((n) => [n.name, n]));
    this.#namespaces = rec.namespaces;
    this.#stateDir = stateDir;
    this.#logger = logger;
  }

  /**
   * Builds the lab. Throws NetsimError NOT_ROOT / MISSING_TOOL before touching anything,
   * LAB_EXISTS for a taken name, SETUP_FAILED (after removing what was built) if a step fails;
   * TypeError / RangeError for a malformed spec.
   */
  static async create(spec: LabSpec, opts: LabOptions = {}): Promise<Lab> {
    const full = normalizeSpec(spec);
    checkPrerequisites();
    const name = labName(opts);
    const prefix = `${NAMESPACE_PREFIX}-${name}`;
    const plan = planLab(prefix, full);
    const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    const logger = opts.logger ?? silentLogger;
    const needsDelay = plan.nodes.some((n) => (n.link?.delayMs ?? 0) > 0);
    // Compile (once) before anything exists, so a missing compiler leaves nothing behind.
    const bin = needsDelay ? await delayBinary(opts.cacheDir ?? DEFAULT_CACHE_DIR) : undefined;
    const rec: LabRecord = {
      v: 1,
      name,
      prefix,
      namespaces: [plan.internetNs, ...plan.nodes.map((n) => n.namespace)],
      nodes: plan.nodes,
      ownerPid: process.pid,
      persistent: opts.persistent ?? false,
      createdAt: new Date().toISOString(),
    };
    // Exact names: a lab "a" must not be taken for one of lab "a-b"'s namespaces.
    const existing = new Set(await namespacesWithPrefix(prefix));
    if (rec.namespaces.some((n) => existing.has(n))) {
      throw new NetsimError(
        NETSIM_ERR.LAB_EXISTS,
        `namespaces of a lab named "${name}" already exist`,
      );
    }
    createRecord(stateDir, rec);
    const lab = new Lab(rec, stateDir, logger);
    if (!rec.persistent) registerExitCleanup(prefix, () => lab.#destroySync());
    const t0 = performance.now();
    try {
      await build(plan, rec, bin, rec.persistent);
      await startPortMappers(plan, labRunDir(stateDir, name), rec.persistent);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    logger.info('netsim lab up', {
      lab: name,
      nodes: plan.nodes.length,
      ms: Math.round(performance.now() - t0),
    });
    return lab;
  }

  /** A lab recorded under `stateDir` (e.g. made by `natpush netsim up`), to exec in or destroy. */
  static open(name: string, opts: Pick<LabOptions, 'stateDir' | 'logger'> = {}): Lab {
    const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    return new Lab(readRecord(stateDir, name), stateDir, opts.logger ?? silentLogger);
  }

  /**
   * Removes every recorded lab that no live process owns: labs made by the CLI's `up`, and labs
   * whose creator crashed. With `force`, also labs of live processes (e.g. a running test
   * run's). Returns the names removed.
   */
  static async destroyAll(
    opts: { stateDir?: string; force?: boolean; logger?: Logger } = {},
  ): Promise<string[]> {
    const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    const { records } = listRecords(stateDir);
    const doomed = records.filter(
      (r) => opts.force === true || r.persistent || !processAlive(r.ownerPid),
    );
    for (const r of doomed) await new Lab(r, stateDir, opts.logger ?? silentLogger).destroy();
    return doomed.map((r) => r.name);
  }

  /** Every node: servers, NATs, hosts. */
  nodes(): NodeInfo[] {
    return [...this.#nodes.values()];
  }

  node(name: string): NodeInfo {
    const n = this.#nodes.get(name);
    if (!n) throw new TypeError(`netsim: lab "${this.name}" has no node "${name}"`);
    return n;
  }

  /**
   * A node's address: a server's or internet host's public address, a NATed host's private
   * address, a NAT's WAN address (its public address unless it sits behind a carrier NAT).
   */
  address(name: string): string {
    return this.node(name).address;
  }

  /** A server's RFC 5780 alternate address (198.51.100.x). */
  alternateAddress(name: string): string {
    const a = this.node(name).alternateAddress;
    if (a === undefined) throw new TypeError(`netsim: node "${name}" has no alternate address`);
    return a;
  }

  /** The namespace of a node, for `ip netns exec`. */
  namespace(name: string): string {
    return this.node(name).namespace;
  }

  /**
   * Starts `cmd args` inside `node`'s namespace (`ip netns exec`, which execs the command, so
   * the child's pid is the command's). The child is SIGKILLed by `destroy()`.
   */
  spawn(
    node: string,
    cmd: string,
    args: readonly string[] = [],
    opts: SpawnOptions = {},
  ): ChildProcess {
    this.#alive();
    const child = spawn('ip', ['netns', 'exec', this.namespace(node), cmd, ...args], opts);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  /** Runs `cmd args` inside `node`'s namespace to completion. Never rejects on exit codes. */
  async exec(
    node: string,
    cmd: string,
    args: readonly string[] = [],
    opts: ExecOptions = {},
  ): Promise<ExecResult> {
    this.#alive();
    return run('ip', ['netns', 'exec', this.namespace(node), cmd, ...args], {
      timeoutMs: opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Kills every process in the lab and removes its namespaces and record. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    unregisterExitCleanup(this.prefix);
    for (const c of this.#children) c.kill('SIGKILL');
    await removeNamespaces(this.#namespaces);
    rmSync(labRunDir(this.#stateDir, this.name), { recursive: true, force: true });
    removeRecord(this.#stateDir, this.name);
    this.#logger.info('netsim lab down', { lab: this.name });
  }

  #destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const c of this.#children) c.kill('SIGKILL');
    removeNamespacesSync(this.#namespaces);
    try {
      rmSync(labRunDir(this.#stateDir, this.name), { recursive: true, force: true });
      removeRecord(this.#stateDir, this.name);
    } catch {
      // exit path: best effort
    }
  }

  #alive(): void {
    if (this.#destroyed)
      throw new NetsimError(NETSIM_ERR.DESTROYED, `netsim lab "${this.name}" was destroyed`);
  }
}

/** Namespaces and veths in one `ip -batch`, then every namespace configured in parallel. */
async function build(
  plan: LabPlan,
  rec: LabRecord,
  bin: string | undefined,
  detached: boolean,
): Promise<void> {
  const batch = [
    ...rec.namespaces.map((ns) => `netns add ${ns}`),
    ...plan.veths.map(
      (v) =>
        `link add name ${v.ifname} index ${v.index} netns ${v.ns} type veth peer name ${v.peerIf} index ${v.peerIndex} netns ${v.peerNs}`,
    ),
  ];
  await runOk('create namespaces and links', 'ip', ['-batch', '-'], batch.join('\n') + '\n');
  await Promise.all(
    [...plan.scripts].map(([ns, script]) =>
      runOk(
        `configure ${ns}`,
        'ip',
        ['netns', 'exec', ns, 'sh', '-e'],
        script + impairments(plan, ns),
      ),
    ),
  );
  await bridgesForwarding(plan);
  if (bin === undefined) return;
  await Promise.all(
    plan.nodes
      .filter((n) => (n.link?.delayMs ?? 0) > 0)
      .map((n) =>
        startDelayLine(bin, n.namespace, n.link!.delayMs!, n.link!.jitterMs ?? 0, detached),
      ),
  );
}

/**
 * Waits until every bridge port forwards. With distinct veth ifindexes (plan.ts) they do at
 * once; this is the safety net that turns a kernel surprise into a slower start, not lost frames.
 */
async function bridgesForwarding(plan: LabPlan): Promise<void> {
  const bridgeNs = [...new Set(plan.veths.map((v) => v.peerNs))];
  const script = bridgeNs.map((ns) => `ip -n ${ns} -d -o link show type bridge_slave`).join('\n');
  const deadline = performance.now() + BRIDGE_READY_TIMEOUT_MS;
  for (;;) {
    const out = await runOk('check bridge ports', 'sh', ['-c', script]);
    const waiting = out
      .split('\n')
      .filter((l) => l !== '' && !l.includes('bridge_slave state forwarding'));
    if (waiting.length === 0) return;
    if (performance.now() > deadline) {
      throw new NetsimError(
        NETSIM_ERR.SETUP_FAILED,
        `bridge ports not forwarding: ${waiting.length}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Per-lab runtime files (miniupnpd's pid, leases, log): `<stateDir>/<lab>.d/<nat>/`. Under the
 * state directory so they vanish with the lab record, and per lab since namespaces share /run.
 */
export function labRunDir(stateDir: string, name: string): string {
  return join(stateDir, `${name}${LAB_RUN_DIR_SUFFIX}`);
}

/** miniupnpd on every NAT that asks for it, in parallel; each resolves once it listens. */
async function startPortMappers(plan: LabPlan, runDir: string, detached: boolean): Promise<void> {
  await Promise.all(
    plan.nodes
      .filter((n) => n.miniupnpd !== undefined)
      .map((n) =>
        startMiniupnpd(
          n.namespace,
          miniupnpdFiles(runDir, n.name),
          n.lanAddress!.replace(/\.1$/, '.0/24'),
          n.miniupnpd!,
          detached,
        ),
      ),
  );
}

/** Loss and delay rules of the node living in `ns`, as shell lines. */
function impairments(plan: LabPlan, ns: string): string {
  const node = plan.nodes.find((n) => n.namespace === ns);
  if (!node?.link) return '';
  const lines: string[] = [];
  const loss = node.link.lossPercent ?? 0;
  if (loss > 0)
    lines.push(
      'nft -f - <<"NETSIM_EOF"',
      lossRuleset(node.uplink, loss, LOSS_SCALE).trimEnd(),
      'NETSIM_EOF',
    );
  if ((node.link.delayMs ?? 0) > 0) lines.push(...delayRules(node.uplink));
  return lines.join('\n') + '\n';
}
