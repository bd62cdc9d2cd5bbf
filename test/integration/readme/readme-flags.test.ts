/**
 * The README's shell blocks that need what a test cannot have (a public host, root for netsim,
 * /etc, a Redis by name): each `natpush` command they run must
 * exist and every flag they pass must be one its --help lists (`--no-x` for a boolean `--x`),
 * and every environment variable they set must be one its --help names. The blocks that run
 * here are run as written by readme-cli.test.ts and readme-run.test.ts; they are checked too.
 */
import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseHostArg } from '../../../netsim/cli-args.js';
import {
  DOC_FILES,
  fencedBlocks,
  helpCommands,
  helpOptions,
  natpushHelp,
  natpushInvocations,
  readDoc,
  readmeBlock,
} from './readme.js';

/** Every shell block of the README, by its example name, and why it is (not) run as written. */
const SHELL_BLOCKS: [name: string, why: string][] = [
  ['setup', 'npm ci needs the registry; readme-run.test.ts runs `npx natpush serve`'],
  ['cli', 'run as written by test/integration/signaling/readme-cli.test.ts'],
  ['stun', 'readme-run.test.ts runs it on two loopback addresses, --workers 2 included'],
  [
    'nat-check',
    'readme-run.test.ts runs it (--json) against that stun; --lifetime 120 idles 2 min',
  ],
  ['netsim', 'root and network namespaces; test/netsim/lifecycle.test.ts runs netsim up/exec/down'],
  [
    'relay',
    '/etc and a public address; readme-run.test.ts runs the secret line, lines 2-4 on temp files',
  ],
  [
    'relay-workers',
    '/etc; test/integration/relay/relay-workers{,-share}.test.ts run reuseport workers on this Node',
  ],
  ['redis', 'a Redis by host name; test/integration/cluster/ runs serve --redis on a unix socket'],
  [
    'relay-fleet',
    'a Redis by host name and public URLs; test/integration/cluster/relay-fleet-*.test.ts',
  ],
];

/** The command path an invocation names: the words after `natpush` that --help lists as commands. */
async function resolve(words: string[]): Promise<string[]> {
  const path: string[] = [];
  for (const w of words) {
    if (!helpCommands(await natpushHelp(path), path).has(w)) break;
    path.push(w);
  }
  return path;
}

describe('README shell blocks', () => {
  it('every sh block has an example name and a row in this table', () => {
    const named = fencedBlocks(readDoc())
      .filter((b) => b.lang === 'sh')
      .map((b) => b.name ?? `unnamed block at line ${b.line}`);
    expect(named.sort()).toEqual(SHELL_BLOCKS.map(([n]) => n).sort());
  });

  it('every sh block calls the CLI as `npx natpush` (npm ci puts no `natpush` on PATH)', () => {
    const bare: string[] = [];
    for (const [name] of SHELL_BLOCKS)
      for (const line of readmeBlock(name).split('\n')) {
        const code = line.replace(/(^|\s)#.*$/, ''); // comments may name the command
        for (const m of code.matchAll(/(^|[\s;&|(]|\$\()natpush\s/g))
          if (!code.slice(0, m.index + m[1]!.length).endsWith('npx '))
            bare.push(`${name}: ${line}`);
      }
    expect(bare).toEqual([]);
  });

  it.each(SHELL_BLOCKS)(
    '%s: each natpush command and every flag and variable it uses exist (%s)',
    async (name) => {
      const block = readmeBlock(name);
      const calls = natpushInvocations(block);
      expect(calls.length, `no natpush command in ${name}`).toBeGreaterThan(0);
      const wrong: string[] = [];
      for (const { command, flags } of calls) {
        const path = await resolve(command);
        if (path.length === 0) wrong.push(`natpush ${command.join(' ')}: no such command`);
        const help = await natpushHelp(path);
        const options = helpOptions(help);
        for (const f of flags) {
          const known = options.has(f) || (f.startsWith('--no-') && options.has(`--${f.slice(5)}`));
          if (!known) wrong.push(`natpush ${path.join(' ')} ${f}`);
        }
        // NATPUSH_X=… [npx] natpush cmd: the variable must be one the command reads (in --help)
        for (const [, v] of block.matchAll(
          new RegExp(`(NATPUSH_[A-Z_]+)=\\S*\\s+(?:npx )?natpush ${path.join(' ')}\\b`, 'g'),
        ))
          if (!help.includes(`$${v}`)) wrong.push(`natpush ${path.join(' ')} does not name $${v}`);
      }
      expect(wrong).toEqual([]);
    },
    120_000, // a few CLI starts, each seconds on a loaded 2-core machine
  );

  it('the netsim block: every --host and --delay value is one `netsim up` accepts', () => {
    const block = readmeBlock('netsim');
    const hosts = [...block.matchAll(/--host (\S+)/g)].map((m) => m[1]!);
    expect(hosts.length).toBeGreaterThan(2);
    for (const h of hosts) expect(() => parseHostArg(h), h).not.toThrow();
    for (const [, d] of block.matchAll(/--delay (\S+)/g))
      expect(parseDurationMs(d!)).toBeGreaterThan(0);
  });

  it.each(DOC_FILES)(
    '%s: every command with flags quoted in the text (`listen --allow anyone`) exists as quoted',
    async (doc) => {
      const prose = readDoc(doc).replace(/```[\s\S]*?```/g, '');
      const spans = [
        ...prose.matchAll(
          /`((?:npx )?(?:natpush )?(?:serve|listen|send|id|ping|relay|stun|nat-check|netsim)\b[^`]*--[^`]*)`/g,
        ),
      ]
        .map((m) => m[1]!.replace(/\s+/g, ' ')) // a span may wrap onto the next line
        .map((t) => (t.startsWith('natpush') || t.startsWith('npx') ? t : `natpush ${t}`));
      const wrong: string[] = [];
      for (const span of spans) {
        for (const { command, flags } of natpushInvocations(span)) {
          const path = await resolve(command);
          const options = helpOptions(await natpushHelp(path));
          for (const f of flags)
            if (!options.has(f) && !(f.startsWith('--no-') && options.has(`--${f.slice(5)}`)))
              wrong.push(`${span}: natpush ${path.join(' ')} has no ${f}`);
        }
      }
      expect(wrong).toEqual([]);
    },
    120_000,
  );
});
