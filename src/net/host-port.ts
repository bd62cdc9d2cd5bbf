/**
 * The one parser of `HOST[:PORT]` as typed on a command line or in a --config file (`nat-check
 * --server`, `stun --listen`, `stun --alternate`, `serve --stun-alternate`). Every malformed
 * form is a usage error (NATPUSH_ERR_USAGE, exit 2) naming the flag and what is wrong, never a
 * silent default: before, `nat-check --server host:` probed port 0 (`Number('')` is 0).
 *
 *   host, host:3478, 203.0.113.1:3478, [2001:db8::1]:3478, [2001:db8::1], 2001:db8::1 (bare
 *   IPv6: no port), :3479 (only with `emptyHost`: the same host as another address)
 *
 * Refused: an empty input, host or port (`:`, `host:`, `[::1]:`), a port that is not 1-5 decimal
 * digits (`host:abc`, `host:+1`, `host:1e3`) or is out of 1..65535 (`host:70000`; `host:0`
 * unless `zeroPort`: "any free port" makes sense for a listen address, never for a server to
 * reach), brackets around anything but an IPv6 address, a host that is neither an IP address nor
 * an RFC 1123 name (spaces, control characters, `300.1.1.1`). The input is quoted in the message
 * with its control and non-ASCII characters escaped, so a hostile value cannot rewrite the
 * terminal that shows the error.
 */
import { isIP } from 'node:net';
import { COMMON_ERR, NatpushError } from '../util/errors.js';
import type { Endpoint } from './udp.js';

export interface HostPortOptions {
  /** The flag, for the message (`--server`). */
  flag: string;
  /** The port when the text has none; without it a port is required. */
  defaultPort?: number;
  /** Accept port 0 ("any free port": a listen address). */
  zeroPort?: boolean;
  /** Accept `:PORT` (no host: the caller's default host); the result's address is then ''. */
  emptyHost?: boolean;
}

/** RFC 1123 host name: labels of letters, digits, `-` (and `_`, seen in the wild), ≤ 253. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$/;

/** Quote `text` for a message: JSON, at most 80 characters, printable ASCII only. */
export function quoteInput(text: string): string {
  const cut = text.length > 80 ? text.slice(0, 80) + '…' : text;
  return JSON.stringify(cut).replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function usage(o: Omit<HostPortOptions, 'defaultPort'>, text: string, why: string): NatpushError {
  const forms = o.emptyHost ? 'HOST, HOST:PORT or :PORT' : 'HOST[:PORT]';
  return Object.assign(
    new NatpushError(
      COMMON_ERR.USAGE,
      `${o.flag}: ${why} in ${quoteInput(text)} (expected ${forms})`,
    ),
    { exitCode: 2 },
  );
}

/** A host: an IP address or a host name; the reason it is not, else undefined. */
function badHost(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  if (/^[\d.]+$/.test(host)) return `${quoteInput(host)} is not an IPv4 address`;
  if (host.includes(':')) return `${quoteInput(host)} is not an IPv6 address`;
  return HOST_NAME.test(host) ? undefined : `${quoteInput(host)} is not a host name or IP address`;
}

/** Parse `text` (see the header); throws NATPUSH_ERR_USAGE with `exitCode: 2`. */
export function parseHostPort(text: string, o: HostPortOptions): Endpoint {
  const p = splitHostPort(text, o);
  const port = p.port ?? o.defaultPort;
  if (port === undefined) throw usage(o, text, 'no port');
  return { address: p.address, port, family: p.address.includes(':') ? 'IPv6' : 'IPv4' };
}

/**
 * `parseHostPort` without the default: `port` is undefined when the text has none (`--alternate
 * HOST` means "the listen port"); `address` is '' for `:PORT` (with `emptyHost`).
 */
export function splitHostPort(
  text: string,
  o: Omit<HostPortOptions, 'defaultPort'>,
): { address: string; port?: number } {
  if (typeof text !== 'string' || text === '') throw usage(o, String(text), 'empty address');
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (!m) throw usage(o, text, 'unbalanced brackets or text after them');
    host = m[1] ?? '';
    portText = m[2];
    if (isIP(host) !== 6) throw usage(o, text, 'brackets hold an IPv6 address only');
  } else if (isIP(text) === 6) {
    host = text; // a bare IPv6 address: no port (write [addr]:port for one)
  } else {
    const i = text.lastIndexOf(':');
    if (i >= 0 && text.indexOf(':') !== i)
      throw usage(o, text, 'an IPv6 address with a port goes in brackets ([addr]:port)');
    host = i < 0 ? text : text.slice(0, i);
    portText = i < 0 ? undefined : text.slice(i + 1);
    if (host === '' && !o.emptyHost) throw usage(o, text, 'empty host');
  }
  if (host !== '') {
    const why = badHost(host);
    if (why) throw usage(o, text, why);
  }
  if (portText !== undefined) return { address: host, port: parsePort(portText, text, o) };
  if (host === '') throw usage(o, text, 'empty host');
  return { address: host };
}

function parsePort(
  portText: string,
  text: string,
  o: Omit<HostPortOptions, 'defaultPort'>,
): number {
  if (portText === '') throw usage(o, text, 'empty port');
  if (!/^\d{1,5}$/.test(portText))
    throw usage(o, text, `port ${quoteInput(portText)} is not a number`);
  const port = Number(portText);
  const min = o.zeroPort ? 0 : 1;
  if (port > 65_535) throw usage(o, text, `port ${port} is out of range (${min}-65535)`);
  if (port === 0 && !o.zeroPort)
    throw usage(o, text, 'port 0 (give the port the server listens on)');
  return port;
}

/**
 * A server URL flag (`--server http://HOST[:PORT]` of the peer commands): http, https, ws or
 * wss, a host, a port in range and not empty when its colon is written (`http://host:` is
 * refused here like `host:` above, though WHATWG URL would take it as the default port). Returns
 * the text; throws NATPUSH_ERR_USAGE (exit 2) naming the flag, as parseHostPort does.
 */
export function checkServerUrl(text: string, flag: string): string {
  const o = { flag };
  const forms = 'http://HOST[:PORT]';
  const fail = (why: string) =>
    Object.assign(
      new NatpushError(
        COMMON_ERR.USAGE,
        `${flag}: ${why} in ${quoteInput(text)} (expected ${forms})`,
      ),
      { exitCode: 2 },
    );
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail('not a URL');
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol))
    throw fail(`scheme ${quoteInput(url.protocol)} is not http, https, ws or wss`);
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(text)?.[1] ?? '';
  // The authority as typed: splitHostPort finds an empty or bad port, a bad host.
  try {
    splitHostPort(authority.replace(/^[^@]*@/, ''), o);
  } catch (err) {
    const why = /^\S+: (.*) in "/.exec((err as Error).message)?.[1] ?? 'bad host or port';
    throw fail(why);
  }
  return text;
}
