// Makes the built CLI (package.json "bin") executable. tsc writes it 0644, and `npx natpush`
// in this checkout runs it through the bin link npm made in its npx cache: npm chmods the
// target only when it creates that link, so after a fresh clone at a path npx had seen before
// (the same CI directory, run after run) the rebuilt file stayed 0644 and `npx natpush serve`
// failed with "sh: 1: natpush: Permission denied".
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const rel of Object.values(bin)) {
  const file = join(root, rel);
  chmodSync(file, statSync(file).mode | 0o111);
}
