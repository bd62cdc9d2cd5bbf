/**
 * The one HOST[:PORT] parser of the command line (src/net/host-port.ts), and every flag that uses
 * it: `nat-check --server`, `stun --listen`, `stun --alternate` / `serve --stun-alternate`.
 * Before it, `nat-check --server host:` probed port 0 (Number('') is 0) and `--alternate :70000`
 * passed; every malformed form is now NATPUSH_ERR_USAGE (exit 2) naming the flag and the fault.
 */
import { describe, expect, it } from 'vitest';
import { runNatCheck } from '../../../src/cli/commands/nat-check.js';
import { exitCodeFor } from '../../../src/cli/errors.js';
import { checkServerUrl, parseHostPort, quoteInput } from '../../../src/net/host-port.js';
import { parseEndpoint } from '../../../src/net/udp.js';
import { parseAlternate, stunServerOptions, stunSchema } from '../../../src/server/stun-options.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

const server = { flag: '--server', defaultPort: 3478 };

/** The error `f` throws: a NatpushError with the usage code, exit 2. */
function usageOf(f: () => unknown): Error {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isNatpushError(err, 'NATPUSH_ERR_USAGE')).toBe(true);
  expect(exitCodeFor(err)).toBe(2);
  return err as Error;
}

describe('parseHostPort', () => {
  it.each([
    ['host', { address: 'host', port: 3478 }],
    ['stun.example.com:3479', { address: 'stun.example.com', port: 3479 }],
    ['203.0.113.1:1', { address: '203.0.113.1', port: 1 }],
    ['203.0.113.1:65535', { address: '203.0.113.1', port: 65535 }],
    ['[2001:db8::1]:3478', { address: '2001:db8::1', port: 3478, family: 'IPv6' }],
    ['[::1]', { address: '::1', port: 3478, family: 'IPv6' }],
    ['2001:db8::1', { address: '2001:db8::1', port: 3478, family: 'IPv6' }],
  ])('%s', (text, want) => {
    expect(parseHostPort(text, server)).toMatchObject(want);
  });

  it.each([
    ['', /empty address/],
    [':', /empty host/],
    [':3478', /empty host/],
    ['host:', /empty port/],
    ['[::1]:', /empty port/],
    ['host:0', /port 0/],
    ['host:70000', /out of range/],
    ['host:99999', /out of range/],
    ['host:abc', /not a number/],
    ['host:+1', /not a number/],
    ['host:1e3', /not a number/],
    ['host:123456', /not a number/],
    ['host: 80', /not a number/],
    ['[host]:80', /brackets hold an IPv6 address only/],
    ['[::1', /brackets/],
    ['[::1]x', /brackets/],
    ['1:2:3', /brackets/],
    ['300.1.1.1:80', /not an IPv4 address/],
    ['ho st:80', /not a host name/],
    ['\u001b[2Jevil:80', /not a host name/],
  ])('%j is a usage error', (text, why) => {
    const err = usageOf(() => parseHostPort(text, server));
    expect(err.message).toMatch(/^--server: /);
    expect(err.message).toMatch(why);
    // eslint-disable-next-line no-control-regex
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('port 0 only where asked (a listen address); no port only with a default', () => {
    expect(parseHostPort('127.0.0.1:0', { flag: '--listen', zeroPort: true }).port).toBe(0);
    expect(usageOf(() => parseHostPort('127.0.0.1', { flag: '--listen' })).message).toMatch(
      /no port/,
    );
  });

  it('quotes the input escaped and cut (a hostile value cannot drive the terminal)', () => {
    expect(quoteInput('a\u001bb\u202ec')).toBe('"a\\u001bb\\u202ec"');
    expect(quoteInput('x'.repeat(500)).length).toBeLessThan(100);
  });

  it('parseEndpoint (the library form) is the same parser: host: is refused, not port 0', () => {
    expect(() => parseEndpoint('host:', 3478)).toThrow(TypeError);
    expect(() => parseEndpoint('host:', 3478)).toThrow(/empty port/);
    expect(parseEndpoint('127.0.0.1:0')).toMatchObject({ address: '127.0.0.1', port: 0 });
  });
});

describe('the flags that take HOST[:PORT]', () => {
  it.each(['host:', ':', 'host:0', 'host:70000', '[::1]:', 'host:x'])(
    'nat-check --server %j is a usage error before anything is sent',
    async (text) => {
      const err = await runNatCheck({
        server: [text],
        json: false,
        lifetime: 0,
        tcp: false,
        portmap: false,
      }).catch((e: unknown) => e);
      expect(isNatpushError(err, 'NATPUSH_ERR_USAGE')).toBe(true);
      expect(exitCodeFor(err)).toBe(2);
      expect((err as Error).message).toMatch(/^--server: /);
    },
  );

  it.each(['127.0.0.1:', ':', '127.0.0.1:70000', '[::1]:', '127.0.0.1:x'])(
    'stun --listen %j is a usage error',
    (listen) => {
      const o = stunSchema.parse({ listen, 'log-level': 'error' });
      expect(usageOf(() => stunServerOptions(o, silentLogger)).message).toMatch(/^--listen: /);
    },
  );

  it.each([':70000', ':', '203.0.113.2:', ':x', '203.0.113.2:70000', '[::1]:'])(
    'stun --alternate %j is a usage error',
    (alt) => {
      const listen = { address: '203.0.113.1', port: 3478 };
      expect(usageOf(() => parseAlternate(alt, listen)).message).toMatch(/^--alternate: /);
      expect(usageOf(() => parseAlternate(alt, listen, '--stun-alternate')).message).toMatch(
        /^--stun-alternate: /,
      );
    },
  );

  it('--alternate keeps its forms: HOST, HOST:PORT, :PORT, :0 (any free port)', () => {
    const listen = { address: '203.0.113.1', port: 3478 };
    expect(parseAlternate(':3479', listen)).toEqual({ port: 3479 });
    expect(parseAlternate(':0', listen)).toEqual({ port: 0 });
    expect(parseAlternate('203.0.113.2', listen)).toEqual({ address: '203.0.113.2' });
    expect(parseAlternate('203.0.113.2:3479', listen)).toEqual({
      address: '203.0.113.2',
      port: 3479,
    });
  });
});

describe('checkServerUrl (peer commands --server)', () => {
  it.each([
    'http://127.0.0.1:8787',
    'https://natpush.example.com',
    'ws://[::1]:8787',
    'http://user@host:1/x',
  ])('%s is taken', (url) => {
    expect(checkServerUrl(url, '--server')).toBe(url);
  });
  it.each([
    ['127.0.0.1:8787', /not a URL/],
    ['http://127.0.0.1:70000', /not a URL/],
    ['http://127.0.0.1:', /empty port/],
    ['http://[::1]:', /empty port/],
    ['ftp://host', /scheme/],
    ['http://ho\u001bst:1', /not a URL|not a host name/],
  ])('%j is a usage error naming the whole URL', (url, why) => {
    const err = usageOf(() => checkServerUrl(url, '--server'));
    expect(err.message).toMatch(/^--server: /);
    expect(err.message).toMatch(why);
    expect(err.message).toContain(quoteInput(url));
  });
});
