/**
 * How fast netsim labs come up and go down (issue 2: "a two-NAT lab is up in under a second").
 * Run as root: `npm run build && node dist/bench/netsim-lab.js [rounds]`. Prints p50 / max per
 * shape and the load average, since the figures move with the machine's load.
 */
import { loadavg } from 'node:os';
import { Lab, type LabSpec } from '../netsim/index.js';

const rounds = Number(process.argv[2] ?? 10);

const SHAPES: Record<string, LabSpec> = {
  'two NATs, two hosts': {
    nats: [
      { name: 'n1', preset: 'symmetric' },
      { name: 'n2', preset: 'port-restricted' },
    ],
    hosts: [
      { name: 'a', behind: 'n1' },
      { name: 'b', behind: 'n2' },
    ],
  },
  'two home NATs behind two CGNs': {
    nats: [
      { name: 'cgn1', preset: 'symmetric' },
      { name: 'cgn2', preset: 'port-restricted' },
      { name: 'h1', preset: 'full-cone', behind: 'cgn1' },
      { name: 'h2', preset: 'restricted-cone', behind: 'cgn2' },
    ],
    hosts: [
      { name: 'a', behind: 'h1' },
      { name: 'b', behind: 'h2' },
    ],
  },
  'two NATs, 20 ms delay and 1 % loss on each host': {
    nats: [
      { name: 'n1', preset: 'symmetric' },
      { name: 'n2', preset: 'port-restricted' },
    ],
    hosts: [
      { name: 'a', behind: 'n1', link: { delayMs: 20, lossPercent: 1 } },
      { name: 'b', behind: 'n2', link: { delayMs: 20, lossPercent: 1 } },
    ],
  },
};

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const p50 = s[Math.floor(s.length / 2)]!;
  return `p50 ${p50.toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms`;
}

console.log(
  `netsim-lab: ${rounds} rounds per shape; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const [name, spec] of Object.entries(SHAPES)) {
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const lab = await Lab.create(spec);
    const t1 = performance.now();
    await lab.destroy();
    up.push(t1 - t0);
    down.push(performance.now() - t1);
  }
  console.log(`  ${name}: up ${stats(up)}; down ${stats(down)}`);
}
