/**
 * Codec speed and strictness: our src/stun against the npm `stun` package (2.x), one run.
 *
 *   npm run build && node dist/bench/stun-codec.js [iterations]
 *
 * - decode: a Binding success response (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT) → mapped
 *   address; encode: the same response from scratch. ops/s, best of 3 rounds.
 * - strictness: 100,000 fuzzed inputs (bench/lib/stun-fuzz.ts) through each decoder; counts
 *   inputs each accepts, and errors that are not the library's own typed error.
 */
import { createRequire } from 'node:module';
import {
  Attr,
  BINDING_SUCCESS,
  StunDecodeError,
  StunMessageBuilder,
  decodeStunMessage,
  readXorAddress,
  verifyFingerprint,
} from '../src/stun/index.js';
import { Rng, exercise, seedMessages } from './lib/stun-fuzz.js';

interface NpmMessage {
  getXorAddress(): { address: string; port: number } | undefined;
  getAttribute(t: number): unknown;
  addXorAddress(a: string, p: number): void;
  addSoftware(s: string): void;
  addFingerprint(): void;
  toBuffer(): Buffer;
}
interface NpmStun {
  decode(b: Buffer): NpmMessage;
  createMessage(type: number, tx?: Buffer): NpmMessage;
  StunError: new (...a: unknown[]) => Error;
}
const npm = createRequire(import.meta.url)('stun') as NpmStun;

const N = Number(process.argv[2] ?? 200_000);
const tx = Buffer.alloc(12, 7);
const from = { address: '198.51.100.7', port: 40000 };
const sample = Buffer.from(
  new StunMessageBuilder(BINDING_SUCCESS, tx)
    .addXorAddress(Attr.XorMappedAddress, from)
    .addString(Attr.Software, 'natpush')
    .addFingerprint()
    .build(),
);

function rate(fn: () => void): number {
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) fn();
    best = Math.max(best, N / ((performance.now() - t0) / 1000));
  }
  return best;
}

let sink = 0;
const ours = {
  decode: rate(() => {
    const m = decodeStunMessage(sample);
    sink += readXorAddress(m, Attr.XorMappedAddress)!.port + (verifyFingerprint(m) ? 1 : 0);
  }),
  encode: rate(() => {
    sink += new StunMessageBuilder(BINDING_SUCCESS, tx)
      .addXorAddress(Attr.XorMappedAddress, from)
      .addString(Attr.Software, 'natpush')
      .addFingerprint()
      .build().length;
  }),
};
const theirs = {
  decode: rate(() => {
    sink += npm.decode(sample).getXorAddress()!.port;
  }),
  encode: rate(() => {
    const m = npm.createMessage(BINDING_SUCCESS, tx);
    m.addXorAddress(from.address, from.port);
    m.addSoftware('natpush');
    m.addFingerprint();
    sink += m.toBuffer().length;
  }),
};

// Strictness on the same fuzzed inputs.
const rng = new Rng(99);
const seeds = seedMessages();
const FUZZ = 100_000;
const tally = {
  oursOk: 0,
  oursUntyped: 0,
  npmOk: 0,
  npmUntyped: 0,
  npmUntypedKinds: new Map<string, number>(),
};
for (let i = 0; i < FUZZ; i++) {
  const s = seeds[rng.int(seeds.length)]!;
  const b = Buffer.from(s);
  for (let n = 1 + rng.int(4); n > 0; n--) b[rng.int(b.length)] = rng.next() & 0xff;
  const input = rng.int(3) === 0 ? b.subarray(0, rng.int(b.length + 1)) : b;
  try {
    if (exercise(input) === 'ok') tally.oursOk++;
  } catch (err) {
    if (!(err instanceof StunDecodeError)) tally.oursUntyped++;
  }
  try {
    const m = npm.decode(Buffer.from(input));
    m.getXorAddress();
    tally.npmOk++;
  } catch (err) {
    if (!(err instanceof npm.StunError)) {
      tally.npmUntyped++;
      const k = (err as Error).constructor.name;
      tally.npmUntypedKinds.set(k, (tally.npmUntypedKinds.get(k) ?? 0) + 1);
    }
  }
}

const k = (x: number): string => `${Math.round(x / 1000).toLocaleString('en-US')}k ops/s`;
console.log(`stun-codec (${N} iterations, best of 3)`);
console.log(
  `  decode  natpush ${k(ours.decode).padStart(14)}   npm stun ${k(theirs.decode).padStart(14)}   ratio ${(ours.decode / theirs.decode).toFixed(1)}x`,
);
console.log(
  `  encode  natpush ${k(ours.encode).padStart(14)}   npm stun ${k(theirs.encode).padStart(14)}   ratio ${(ours.encode / theirs.encode).toFixed(1)}x`,
);
console.log(
  `  ${FUZZ} mutated inputs: natpush accepted ${tally.oursOk}, untyped errors ${tally.oursUntyped}; npm stun accepted ${tally.npmOk}, untyped errors ${tally.npmUntyped} ${JSON.stringify(Object.fromEntries(tally.npmUntypedKinds))}`,
);
if (sink === 0) console.log('');
