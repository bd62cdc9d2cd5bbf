/**
 * `natpush netsim up|exec|ls|down`: labs of real Linux NAT in network namespaces (netsim/).
 * Labs made by `up` outlive the command, until `down`.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { Argv, CommandModule } from 'yargs';
import { labSpecFromArgs } from '../../../netsim/cli-args.js';
import {
  DEFAULT_STATE_DIR,
  Lab,
  checkPrerequisites,
  listRecords,
  processAlive,
  type LabRecord,
  type NodeInfo,
} from '../../../netsim/index.js';
import { COMMON_ERR, NatpushError } from '../../util/errors.js';

interface CommonArgs {
  'state-dir': string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function nodeRows(nodes: NodeInfo[]): string[][] {
  return [
    ['NODE', 'KIND', 'ADDRESS', 'BEHIND', 'PRESET', 'NAMESPACE'],
    ...nodes.map((n) => [
      n.name,
      n.kind,
      n.alternateAddress ? `${n.address},${n.alternateAddress}` : n.address,
      n.behind ?? '',
      n.preset ?? '',
      n.namespace,
    ]),
  ];
}

const stateDirOption = {
  'state-dir': {
    type: 'string',
    default: DEFAULT_STATE_DIR,
    describe: 'where lab records live',
  },
} as const;

interface UpArgs extends CommonArgs {
  name: string;
  host: string[];
  server?: string[];
  delay?: string;
  jitter?: string;
  loss?: string;
  'cgn-preset'?: string;
}

const up: CommandModule<object, UpArgs> = {
  command: 'up <name>',
  describe: 'build a lab that stays up until `natpush netsim down <name>`',
  builder: (y: Argv) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'lab name ([a-z0-9-])' })
      .options({
        host: {
          type: 'string',
          array: true,
          default: [] as string[],
          describe: 'NAME:PRESET[,hairpin,cgn,udp-blocked,timeout=SEC] | NAME:public | NAME@OTHER',
        },
        server: { type: 'string', array: true, describe: 'server names (default: one "server")' },
        delay: { type: 'string', describe: 'one-way delay on every host link, e.g. 20ms' },
        jitter: { type: 'string', describe: 'delay jitter, e.g. 2ms' },
        loss: { type: 'string', describe: 'loss per direction on every host link, e.g. 1%' },
        'cgn-preset': { type: 'string', describe: 'preset of the shared carrier-grade NAT' },
        ...stateDirOption,
      })
      .example(
        '$0 netsim up demo --host a:symmetric --host b:full-cone --delay 20ms',
        '',
      ) as unknown as Argv<UpArgs>,
  handler: async (a) => {
    const spec = labSpecFromArgs({
      host: a.host,
      ...(a.server ? { server: a.server } : {}),
      ...(a.delay !== undefined ? { delay: a.delay } : {}),
      ...(a.jitter !== undefined ? { jitter: a.jitter } : {}),
      ...(a.loss !== undefined ? { loss: a.loss } : {}),
      ...(a['cgn-preset'] !== undefined ? { cgnPreset: a['cgn-preset'] } : {}),
    });
    const t0 = performance.now();
    const lab = await Lab.create(spec, {
      name: a.name,
      persistent: true,
      stateDir: a['state-dir'],
    });
    const ms = Math.round(performance.now() - t0);
    console.log(table(nodeRows(lab.nodes())));
    console.log(
      `\nlab ${lab.name} up in ${ms} ms; natpush netsim exec ${lab.name} HOST -- CMD; natpush netsim down ${lab.name}`,
    );
  },
};

interface ExecArgs extends CommonArgs {
  name: string;
  node: string;
  cmd: string[];
}

const exec: CommandModule<object, ExecArgs> = {
  command: 'exec <name> <node> [cmd..]',
  describe: 'run a command inside a node of a lab (after --)',
  builder: (y: Argv) =>
    y
      .parserConfiguration({ 'populate--': true })
      .positional('name', { type: 'string', demandOption: true })
      .positional('node', { type: 'string', demandOption: true })
      .positional('cmd', { type: 'string', array: true })
      .options(stateDirOption) as unknown as Argv<ExecArgs>,
  handler: async (a) => {
    checkPrerequisites();
    const rest = (a as unknown as { '--'?: string[] })['--'] ?? [];
    const argv = [...(a.cmd ?? []), ...rest].map(String);
    if (argv.length === 0) throw new NatpushError(COMMON_ERR.USAGE, 'give a command after --');
    const lab = Lab.open(a.name, { stateDir: a['state-dir'] });
    lab.node(a.node); // a clear error for an unknown node
    const child = spawn('ip', ['netns', 'exec', lab.namespace(a.node), ...argv], {
      stdio: 'inherit',
    });
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    process.exitCode = code;
  },
};

function liveness(r: LabRecord, namespaces: Set<string>): string {
  const up = r.namespaces.filter((n) => namespaces.has(n)).length;
  const state =
    up === r.namespaces.length ? 'up' : up === 0 ? 'gone' : `partial ${up}/${r.namespaces.length}`;
  if (r.persistent) return state;
  return processAlive(r.ownerPid) ? `${state} (pid ${r.ownerPid})` : `${state} (orphaned)`;
}

function existingNamespaces(): Set<string> {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return new Set(out.split('\n').map((l) => l.split(' ')[0] ?? ''));
}

const ls: CommandModule<object, CommonArgs & { json: boolean }> = {
  command: 'ls',
  describe: 'list recorded labs',
  builder: (y: Argv) =>
    y.options({ ...stateDirOption, json: { type: 'boolean', default: false } }) as unknown as Argv<
      CommonArgs & { json: boolean }
    >,
  handler: async (a) => {
    const { records, broken } = listRecords(a['state-dir']);
    if (a.json) {
      console.log(JSON.stringify(records, null, 2));
      return;
    }
    const ns = existingNamespaces();
    const rows = [
      ['LAB', 'NODES', 'STATE', 'CREATED'],
      ...records.map((r) => [r.name, String(r.nodes.length), liveness(r, ns), r.createdAt]),
    ];
    console.log(table(rows));
    for (const b of broken) console.log(`unreadable record: ${b}`);
  },
};

interface DownArgs extends CommonArgs {
  name?: string;
  all: boolean;
  force: boolean;
}

const down: CommandModule<object, DownArgs> = {
  command: 'down [name]',
  describe: 'remove a lab (or with --all, every lab left by `up` or by a crashed process)',
  builder: (y: Argv) =>
    y.positional('name', { type: 'string' }).options({
      all: {
        type: 'boolean',
        default: false,
        describe: 'every recorded lab not owned by a live process',
      },
      force: {
        type: 'boolean',
        default: false,
        describe: 'with --all: also labs of live processes',
      },
      ...stateDirOption,
    }) as unknown as Argv<DownArgs>,
  handler: async (a) => {
    checkPrerequisites();
    if ((a.name === undefined) === !a.all) {
      throw new NatpushError(COMMON_ERR.USAGE, 'give a lab name or --all (not both)');
    }
    const names =
      a.name !== undefined
        ? [a.name]
        : await Lab.destroyAll({ stateDir: a['state-dir'], force: a.force });
    if (a.name !== undefined) await Lab.open(a.name, { stateDir: a['state-dir'] }).destroy();
    for (const name of names) console.log(`lab ${name} down`);
    if (names.length === 0) console.log('no labs to remove');
  },
};

export const netsimCommand: CommandModule<object, object> = {
  command: 'netsim <command>',
  describe: 'labs of real NATs in Linux network namespaces (root)',
  builder: (y: Argv) =>
    y
      .command(up as unknown as CommandModule<object, object>)
      .command(exec as unknown as CommandModule<object, object>)
      .command(ls as unknown as CommandModule<object, object>)
      .command(down as unknown as CommandModule<object, object>)
      .demandCommand(1),
  handler: () => {},
};
