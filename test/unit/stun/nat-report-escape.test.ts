/**
 * nat-check's text report shows what a router on the LAN said (a UPnP fault description, the
 * URL from an SSDP answer, an external address from XML): anyone on the LAN may answer SSDP, so
 * these are a stranger's words. Every control, bidi and line-break character is shown escaped
 * (nat-report.ts `shown`); before, `ESC [2J` cleared the screen and a `\n` forged a report line.
 */
import { describe, expect, it } from 'vitest';
import { formatNatReport, punchOutlook } from '../../../src/stun/index.js';
import type { NatReport } from '../../../src/stun/index.js';
import { shown } from '../../../src/stun/nat-report.js';

const HOSTILE = 'fault\u001b[2J\r\nNAT type        open\u202e\u0085\\';

const base: NatReport = {
  servers: [{ server: { address: '192.0.2.1', port: 3478 }, error: HOSTILE }],
  udp: true,
  local: { address: '0.0.0.0', port: 40000 },
  behindNat: true,
  mapping: 'endpoint-independent',
  filtering: 'address-and-port-dependent',
  kind: 'port-restricted',
  outlook: punchOutlook({
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
    udp: true,
  }),
  notes: [HOSTILE],
};

describe('nat-check text report: network text is escaped', () => {
  it.each([
    [
      'a port-mapping error',
      { portMapping: { offered: {}, error: { code: 'X', message: HOSTILE } } },
    ],
    [
      'a granted external address from XML',
      {
        portMapping: {
          offered: {},
          granted: {
            via: 'upnp' as const,
            external: { address: HOSTILE, port: 1 },
            lifetimeSec: 1,
            ms: 1,
          },
        },
      },
    ],
  ])('%s, a server error and a note: one line each, nothing raw', (_, extra) => {
    const text = formatNatReport({ ...base, ...extra } as NatReport);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(
      text.split('\n').filter((l) => /NAT type\s+open/.test(l) && !l.includes('fault')),
    ).toEqual([]);
    expect(text).toContain('fault\\x1b[2J\\r\\nNAT type        open\\u{202e}\\x85\\\\');
  });

  it('shown() keeps ordinary text and escapes the backslash (an escape cannot be faked)', () => {
    expect(shown('no answer from 192.0.2.1 — UDP blocked?')).toBe(
      'no answer from 192.0.2.1 — UDP blocked?',
    );
    expect(shown('a\\x1b')).toBe('a\\\\x1b');
  });
});
