/**
 * Hostile JSON values and structure-aware mutation of JSON objects, on the seeded `Rng` of
 * stun-fuzz.ts (xorshift32: a failure is reproduced by its seed). Used for WebSocket frames and
 * HTTP bodies alike (signaling-fuzz.ts).
 *
 * A mutation picks one field of a valid object (nested ones included, e.g. `candidates.0.port`)
 * and replaces it with a value of the wrong type, a huge or control-character string, a number out
 * of range, deep nesting; or deletes it, or adds an unknown field. Text-level mutations then break
 * the JSON itself (truncation, duplicate keys, BOM, trailing garbage).
 */
import { Rng } from './stun-fuzz.js';

export { Rng };

/**
 * The generator of input `index` of a run with `seed`: inputs stay reproducible one by one even
 * when concurrent connections consume them in a timing-dependent order.
 */
export function inputRng(seed: number, index: number): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return new Rng(h >>> 0 || 1);
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

export function chance(rng: Rng, oneIn: number): boolean {
  return rng.int(oneIn) === 0;
}

/** Strings that have broken parsers, loggers and line protocols (SSE, terminals) before. */
const NASTY_STRINGS = [
  '',
  ' ',
  'a\r\nid: forged\r\n\r\n',
  'x\ndata: {"type":"deliver"}\n\n',
  'retry: 1\n',
  '\u0000',
  '\u001b[2J\u001b[31mred',
  '\u202eevil\u202c',
  '\u200b\u200d\ufeff',
  '\ud800',
  '\udfff\ud800',
  '😀'.repeat(20),
  'Ω≈ç√∫',
  '%00%0d%0a',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  '{"type":"hello"}',
  'null',
  'NaN',
  '-0',
  '1e309',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  'a'.repeat(64),
  'a'.repeat(65),
  'abcdefghijklmnopqrstuvwxyz234567',
  'abcdefghijklmnopqrstuvwxyz23456',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
];

const NASTY_NUMBERS = [
  0,
  -1,
  1,
  -0,
  0.5,
  1.5,
  255,
  256,
  65535,
  65536,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 32 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e308,
  -1e308,
  5e-324,
  1e-7,
  604800,
  604801,
];

/** A string of `n` characters built from one of a few alphabets (ASCII, multi-byte, controls). */
export function longString(rng: Rng, n: number): string {
  const unit = pick(rng, ['a', 'é', '😀', '\n', '\u0000', '%', '\\', '"']);
  return unit.repeat(Math.max(1, Math.floor(n / unit.length)));
}

/** Nested arrays/objects `depth` deep. */
export function deepValue(rng: Rng, depth: number): unknown {
  let v: unknown = rng.int(2) === 0 ? 1 : 'x';
  const asArray = rng.int(2) === 0;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** Any hostile JSON value (never `undefined`). */
export function hostileValue(rng: Rng): unknown {
  switch (rng.int(12)) {
    case 0:
      return pick(rng, NASTY_STRINGS);
    case 1:
      return pick(rng, NASTY_NUMBERS);
    case 2:
      return pick(rng, [null, true, false]);
    case 3:
      return [];
    case 4:
      return {};
    case 5:
      return longString(rng, pick(rng, [100, 1_000, 20_000, 70_000]));
    case 6:
      return deepValue(rng, pick(rng, [10, 100, 1_000]));
    case 7:
      return Array.from({ length: pick(rng, [2, 257, 1_025, 5_000]) }, () => 'x');
    case 8:
      return [pick(rng, NASTY_STRINGS), pick(rng, NASTY_NUMBERS), null];
    case 9:
      return { ['__proto__']: { polluted: true }, constructor: { prototype: 1 } };
    case 10:
      return String.fromCharCode(
        ...Array.from({ length: 1 + rng.int(40) }, () => rng.int(0x10000)),
      );
    default:
      return rng.next() - 2 ** 31;
  }
}

type Json = Record<string, unknown>;

/** Every path to a value inside `v` (object keys and array indexes), the root excluded. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i]);
      if (out.length < 200) paths(x, [...prefix, i], out);
    });
  } else if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      out.push([...prefix, k]);
      if (out.length < 200) paths((v as Json)[k], [...prefix, k], out);
    }
  }
  return out;
}

function parentOf(root: unknown, path: (string | number)[]): unknown {
  let v = root;
  for (const k of path.slice(0, -1)) v = (v as Json)[k as string];
  return v;
}

/** An own enumerable property, even for `__proto__` (plain assignment would set the prototype). */
function setOwn(o: Json, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A mutated deep copy of `frame` (one to three field-level changes). */
export function mutateObject(rng: Rng, frame: Json): Json {
  const copy = structuredClone(frame);
  for (let n = 1 + (rng.int(4) === 0 ? rng.int(3) : 0); n > 0; n--) {
    const ps = paths(copy);
    const op = rng.int(10);
    if (op === 0 || ps.length === 0) {
      // Unknown field at the top or next to a nested one.
      const where = ps.length > 0 && rng.int(2) === 0 ? parentOf(copy, pick(rng, ps)) : copy;
      if (where && typeof where === 'object' && !Array.isArray(where))
        setOwn(
          where as Json,
          pick(rng, ['x', 'extra', '__proto__', 'type2', '']),
          hostileValue(rng),
        );
      continue;
    }
    const p = pick(rng, ps);
    const parent = parentOf(copy, p) as Json | unknown[];
    const key = p[p.length - 1]!;
    if (op === 1) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (op === 2 && p.length === 1 && key === 'type') {
      parent[key as never] = pick(rng, [
        'HELLO',
        'hello ',
        'unknown',
        '',
        'deliver',
        'welcome',
        'error',
        'toString',
        '__proto__',
      ]) as never;
    } else if (Array.isArray(parent)) {
      parent[key as number] = hostileValue(rng);
    } else {
      setOwn(parent, key as string, hostileValue(rng));
    }
  }
  return copy;
}

/** Text-level damage to a JSON text: the parser's edge cases rather than the schema's. */
export function mutateText(rng: Rng, text: string): string {
  switch (rng.int(10)) {
    case 0:
      return text.slice(0, rng.int(text.length + 1));
    case 1: {
      // A duplicate key: JSON.parse keeps the last one.
      const i = text.indexOf('{');
      return `${text.slice(0, i + 1)}"type":${JSON.stringify(hostileValue(rng))},${text.slice(i + 1)}`;
    }
    case 2:
      return '\ufeff' + text;
    case 3:
      return text + pick(rng, ['}', ']', ' x', '\u0000', '{}', '\n{"type":"ping","t":1}']);
    case 4: {
      const i = rng.int(text.length + 1);
      return text.slice(0, i) + String.fromCharCode(rng.int(0x10000)) + text.slice(i);
    }
    case 5:
      return pick(rng, ['[' + text + ']', 'null', '1', '"str"', 'true', '', ' ', '{}', '[]']);
    case 6:
      return text.replace(/"/, "'");
    case 7:
      return ' \t\r\n'.repeat(1 + rng.int(1000)) + text;
    case 8: {
      // Nesting far deeper than any object serializer would produce (JSON.parse is iterative).
      const n = pick(rng, [5_000, 30_000]);
      const i = text.indexOf(':') + 1;
      return (
        text.slice(0, i) +
        '['.repeat(n) +
        ']'.repeat(n) +
        text.slice(i).replace(/^("[^"]*"|[^,}]*)/, '')
      );
    }
    default:
      return text.replace(/[:,]/, pick(rng, [' ', ';', '::', '']));
  }
}
