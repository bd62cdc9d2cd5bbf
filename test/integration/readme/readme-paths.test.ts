/**
 * The README, ARCHITECTURE.md, netsim's README and docs/** name files, tests, benches and links;
 * each must exist in this repository (STYLE.md §12: docs never drift; the project rule: docs link
 * only inside the repo), and a link's #anchor must be a heading of the file it points at.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOC_FILES,
  FIGURE_DOCS,
  REPO,
  docsFolder,
  fencedBlocks,
  headingAnchors,
  readDoc,
} from './readme.js';

/**
 * Paths the docs name that are not in this repository on purpose, each with why.
 */
const NOT_OURS = new Map([
  // the README quotes a file of @achingbrain/nat-port-mapper's repository (why we do not use it)
  ['src/upnp/fetch.ts', 'nat-port-mapper'],
]);

/** `a/{b,c}.ts` → `a/b.ts`, `a/c.ts` */
function expand(p: string): string[] {
  const m = /^(.*?)\{([^}]*)\}(.*)$/.exec(p);
  if (!m) return [p];
  return m[2]!.split(',').flatMap((alt) => expand(`${m[1]}${alt.trim()}${m[3]}`));
}

/** Where a named path lives in the repo: `dist/bench/x.js` and `dist/src/x.js` are built from .ts. */
function sourceOf(p: string): string {
  const built = /^dist\/((?:src|bench|netsim)\/.*)\.js$/.exec(p);
  return built ? `${built[1]}.ts` : p;
}

function namedPaths(md: string): string[] {
  const found = new Set<string>();
  for (const m of md.matchAll(
    /(?<![\w./-])((?:dist\/)?(?:src|test|bench|netsim|scripts)\/[\w./{},-]*[\w}/])/g,
  ))
    for (const p of expand(m[1]!)) found.add(p.replace(/\/$/, ''));
  return [...found];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(join(REPO, dir), { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) walk(rel, out);
    else out.push(rel);
  }
  return out;
}

describe.each(DOC_FILES)('%s names only what exists', (doc) => {
  const md = readDoc(doc);

  it('every src/, test/, bench/, netsim/, scripts/ path (dist/…js: its .ts source)', () => {
    const paths = namedPaths(md);
    // the README and its neighbours name code; a doc under docs/ need not
    if (!doc.startsWith('docs/')) expect(paths.length).toBeGreaterThan(0);
    const missing = paths
      .filter((p) => !NOT_OURS.has(p))
      .filter((p) => !existsSync(join(REPO, sourceOf(p))));
    expect(missing).toEqual([]);
  });

  it('every file named by its bare name (`open-enum.ts`, `relay-move.test.ts`) exists somewhere', () => {
    const files = new Set(
      ['src', 'test', 'bench', 'netsim', 'scripts']
        .flatMap((d) => walk(d))
        .map((f) => posix.basename(f)),
    );
    const names = new Set(
      [...md.matchAll(/`([\w.-]+\.(?:ts|sh|c))`|(?<![\w./-])([\w-]+(?:\.test)?\.ts)\b/g)].map(
        (m) => (m[1] ?? m[2])!,
      ),
    );
    // bare names inside a named path are covered above; `fetch.ts` is nat-port-mapper's (NOT_OURS)
    const missing = [...names].filter((n) => !files.has(n) && n !== 'fetch.ts');
    expect(missing).toEqual([]);
  });

  it('every markdown link is relative and points at a file or folder of the repo', () => {
    const links = [...md.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    const dir = posix.dirname(doc);
    const bad = links.filter((l) => {
      if (/^[a-z][a-z0-9+.-]*:/i.test(l) || l.startsWith('/') || l.startsWith('//')) return true;
      const target = l.split('#')[0]!;
      if (target === '') return false; // an anchor in the same file
      const rel = posix.normalize(posix.join(dir, target));
      return rel.startsWith('..') || !existsSync(join(REPO, rel));
    });
    expect(bad).toEqual([]);
  });

  it('every #anchor of a link is a heading of the markdown file it points at', () => {
    const dir = posix.dirname(doc);
    const wrong: string[] = [];
    for (const [, link] of md.matchAll(/\]\(([^)\s]+)\)/g)) {
      const [target, anchor] = link!.split('#');
      if (anchor === undefined) continue;
      const file = target === '' ? doc : posix.normalize(posix.join(dir, target!));
      if (!file.endsWith('.md') || !existsSync(join(REPO, file))) continue; // the test above
      if (!headingAnchors(readDoc(file)).has(anchor)) wrong.push(link!);
    }
    expect(wrong).toEqual([]);
  });
});

describe('docs/', () => {
  it('holds markdown, and the README links every file of it', () => {
    const docs = docsFolder();
    expect(docs.length).toBeGreaterThan(0);
    const linked = new Set(
      [...readDoc().matchAll(/\]\((docs\/[^)#\s]+)(?:#[^)\s]*)?\)/g)].map((m) => m[1]!),
    );
    expect(docs.filter((d) => !linked.has(d))).toEqual([]);
  });
});

describe('README and docs/ bench commands', () => {
  const md = FIGURE_DOCS.map((d) => readDoc(d)).join('\n');
  const commands = [...md.matchAll(/`node dist\/bench\/([\w-]+)\.js([^`]*)`/g)].map((m) => ({
    bench: m[1]!,
    args: m[2]!,
  }));

  it('name benches that exist, with flags each bench reads', () => {
    expect(commands.length).toBeGreaterThan(10);
    const wrong: string[] = [];
    for (const { bench, args } of commands) {
      const file = join(REPO, 'bench', `${bench}.ts`);
      if (!existsSync(file)) {
        wrong.push(`bench/${bench}.ts missing`);
        continue;
      }
      const src = readDoc(`bench/${bench}.ts`);
      for (const [, flag] of args.matchAll(/(?:^|\s)--([a-z][a-z0-9-]*)/g))
        if (!src.includes(flag!)) wrong.push(`bench/${bench}.ts never reads --${flag}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('README and docs/ vitest commands', () => {
  it('name a project of vitest.config.ts and test files that exist', () => {
    const config = readDoc('vitest.config.ts');
    const wrong: string[] = [];
    const md = FIGURE_DOCS.map((d) => readDoc(d)).join('\n');
    const cmds = [...md.matchAll(/`(?:[A-Z_]+=\S+ )*npx vitest run ([^`]*)`/g)].map((m) => m[1]!);
    expect(cmds.length).toBeGreaterThan(3);
    for (const args of cmds) {
      const project = /--project (\S+)/.exec(args)?.[1];
      if (project && !config.includes(`name: '${project}'`)) wrong.push(`no project ${project}`);
      for (const [f] of args.matchAll(/test\/\S+\.test\.ts/g))
        if (!existsSync(join(REPO, f))) wrong.push(`${f} missing`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('README code blocks', () => {
  it('every fenced block is named (<!-- example: NAME -->) and a test reads it by that name', () => {
    const tests = [
      ...walk('test/integration/readme'),
      'test/integration/signaling/readme-cli.test.ts',
    ]
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readDoc(f))
      .join('\n');
    const blocks = fencedBlocks(readDoc());
    expect(blocks.length).toBeGreaterThan(10);
    const unread = blocks
      .map((b) => b.name ?? `unnamed ${b.lang} block at line ${b.line}`)
      // by name in a call (`readmeBlock('relay')`) or in a table row (`['relay', …]`)
      .filter((n) => !tests.includes(`'${n}'`));
    expect(unread).toEqual([]);
  });

  it('docs/ has no code block: examples live in the README, where a test reads each', () => {
    for (const doc of docsFolder()) expect(fencedBlocks(readDoc(doc)), doc).toEqual([]);
  });
});

describe('ARCHITECTURE.md folder tree', () => {
  it('names folders that exist', () => {
    const tree = /```\n(src\/[\s\S]*?)```/.exec(readDoc('ARCHITECTURE.md'))?.[1];
    expect(tree).toBeDefined();
    const missing: string[] = [];
    for (const [, indent, name] of tree!.matchAll(/^( *)([a-z][\w-]*)\/ /gm)) {
      const p = indent!.length > 0 ? `src/${name}` : name!;
      if (!existsSync(join(REPO, p))) missing.push(p);
    }
    expect(missing).toEqual([]);
  });
});
