/**
 * Reading README.md the way its tests do (STYLE.md §12): a block is named by the
 * `<!-- example: NAME -->` line above its fence, and a test reads it from the README instead of
 * keeping a copy, so the README cannot drift from what is run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { CLI, REPO, assertBuilt } from '../signaling/natpush-process.js';

export { CLI, REPO };

export function readDoc(file = 'README.md'): string {
  return readFileSync(join(REPO, file), 'utf8');
}

/** The markdown files under docs/ (the README links them; measurements and their history). */
export function docsFolder(): string[] {
  return readdirSync(join(REPO, 'docs'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => relative(REPO, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** Every document the doc tests read: the README, ARCHITECTURE.md, netsim's README, docs/**. */
export const DOC_FILES = ['README.md', 'ARCHITECTURE.md', 'netsim/README.md', ...docsFolder()];

/** The README and docs/**: where commands, benches and figures are named. */
export const FIGURE_DOCS = ['README.md', ...docsFolder()];

/**
 * The anchors GitHub makes for a markdown file's headings: lower case, punctuation other than
 * `-` and `_` dropped, spaces to `-`; a repeated heading gets `-1`, `-2`, ….
 */
export function headingAnchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of md.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.*)$/gm)) {
    const base = text!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/**
 * A README shell line as a test runs it: the README calls the CLI as `npx natpush` (this
 * checkout's own bin); a test runs the line in a temp dir with the built CLI on PATH as
 * `natpush`, where npx would look the name up in the registry instead.
 */
export function onPath(line: string): string {
  return line.replace(/(^|[\s;&|(])npx natpush\b/gm, '$1natpush');
}

/** The body of the fenced block right after `<!-- example: NAME -->`. */
export function readmeBlock(name: string): string {
  const m = new RegExp(`<!-- example: ${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(
    readDoc(),
  );
  if (!m?.[1]) throw new Error(`README example ${name} not found`);
  return m[1];
}

/**
 * `source` (a README fragment) as an ES module inside the package directory, so that its
 * `import 'natpush'` resolves to this package (self-reference). The caller removes the file.
 */
export function writeExampleModule(source: string): string {
  const file = join(REPO, `.readme-example-${randomBytes(4).toString('hex')}.mjs`);
  writeFileSync(file, source);
  return file;
}

/** Every fenced block of a markdown text, with the example name above it (if any). */
export function fencedBlocks(md: string): { line: number; lang: string; name?: string }[] {
  const out: { line: number; lang: string; name?: string }[] = [];
  const lines = md.split('\n');
  let open = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!l.startsWith('```')) continue;
    open = !open;
    if (!open) continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const name = /^<!-- example: ([\w-]+) -->$/.exec(lines[j] ?? '')?.[1];
    out.push({ line: i + 1, lang: l.slice(3).trim(), ...(name ? { name } : {}) });
  }
  return out;
}

/**
 * The `natpush …` invocations of a shell block: continuation lines joined, comments and
 * placeholders (`[--x …]` optional parts are kept: their flags must exist too) left in.
 * Returns the command path (`['relay', 'mint']`) and the flags used (`--secret-file`, …).
 */
export function natpushInvocations(block: string): { command: string[]; flags: string[] }[] {
  const joined = block.replace(/\\\n/g, ' ');
  const out: { command: string[]; flags: string[] }[] = [];
  for (const raw of joined.split('\n')) {
    // a shell comment; and what follows `--` belongs to the command a lab node runs
    const line = raw.replace(/(^|\s)#.*$/, '').replace(/\s--\s.*$/, '');
    for (const m of line.matchAll(/(?:^|[\s;&|(])natpush((?:\s+[a-z][a-z-]*)*)((?:\s+\S+)*)/g)) {
      // subcommands are the bare words right after `natpush` that the CLI knows; the rest are
      // arguments (a lab name, a user) — resolved by the caller against --help
      const words = m[1]!.trim().split(/\s+/).filter(Boolean);
      const rest = `${m[1]} ${m[2]}`;
      const flags = [...rest.matchAll(/(?:^|[\s[])(--[a-z][a-z0-9-]*)/g)].map((f) => f[1]!);
      out.push({ command: words, flags: [...new Set(flags)] });
    }
  }
  return out;
}

const helpCache = new Map<string, Promise<string>>();

/** `natpush <command…> --help`, as the built CLI prints it. */
export function natpushHelp(command: string[]): Promise<string> {
  assertBuilt();
  const key = command.join(' ');
  let p = helpCache.get(key);
  if (!p) {
    p = new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI, ...command, '--help'],
        { cwd: REPO, timeout: 60_000 }, // a CLI start on a loaded machine takes seconds
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    helpCache.set(key, p);
  }
  return p;
}

/** The option names a yargs --help lists in its Options column (`--port`, `--no-relay` → `--relay`). */
export function helpOptions(help: string): Set<string> {
  const s = new Set<string>();
  for (const m of help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)/gm)) s.add(m[1]!);
  return s;
}

/** The subcommand names a yargs --help lists (`natpush relay mint <user>` → `mint`). */
export function helpCommands(help: string, command: string[]): Set<string> {
  const s = new Set<string>();
  const prefix = ['natpush', ...command].join(' ');
  for (const line of help.split('\n')) {
    const t = line.trim();
    if (!t.startsWith(`${prefix} `)) continue;
    const next = t.slice(prefix.length + 1).split(/\s/)[0]!;
    if (/^[a-z][a-z-]*$/.test(next)) s.add(next);
  }
  return s;
}
