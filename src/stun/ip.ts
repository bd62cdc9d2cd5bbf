/**
 * IP address text ⇄ bytes without allocating intermediate strings where it can be helped.
 * Text output follows RFC 5952 (lower case, longest zero run compressed), as node:dgram reports.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Write an IPv4 address into `out` at `offset`. Throws TypeError for a non-IPv4 string. */
export function writeIPv4(address: string, out: Uint8Array, offset: number): void {
  let part = 0;
  let digits = 0;
  let idx = 0;
  for (let i = 0; i <= address.length; i++) {
    const c = i < address.length ? address.charCodeAt(i) : 46; // '.' terminates the last part
    if (c === 46) {
      if (digits === 0 || part > 255 || idx > 3)
        throw new TypeError(`not an IPv4 address: ${address}`);
      out[offset + idx++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      throw new TypeError(`not an IPv4 address: ${address}`);
    }
  }
  if (idx !== 4) throw new TypeError(`not an IPv4 address: ${address}`);
}

export function formatIPv4(b: Uint8Array, offset: number): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** Write an IPv6 address (with optional embedded IPv4 tail) into 16 bytes of `out`. */
export function writeIPv6(address: string, out: Uint8Array, offset: number): void {
  const zone = address.indexOf('%');
  const text = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(text)) throw new TypeError(`not an IPv6 address: ${address}`);
  const groups: number[] = [];
  const expand = (part: string): number[] => {
    if (part === '') return [];
    const out16: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = new Uint8Array(4);
        writeIPv4(g, v4, 0);
        out16.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out16.push(parseInt(g, 16));
      }
    }
    return out16;
  };
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    const head = expand(text.slice(0, dbl));
    const tail = expand(text.slice(dbl + 2));
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    groups.push(...expand(text));
  }
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[offset + 2 * i] = g >> 8;
    out[offset + 2 * i + 1] = g & 0xff;
  }
}

export function formatIPv6(b: Uint8Array, offset: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[offset + 2 * i]! << 8) | b[offset + 2 * i + 1]!);
  // RFC 5952 §4.2: compress the longest run of two or more zero groups (the first if tied).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function ipFamily(address: string): 4 | 6 | 0 {
  if (isIPv4(address)) return 4;
  const zone = address.indexOf('%');
  if (isIPv6(zone >= 0 ? address.slice(0, zone) : address)) return 6;
  return 0;
}
