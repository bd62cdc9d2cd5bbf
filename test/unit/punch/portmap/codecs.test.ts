/**
 * NAT-PMP (RFC 6886) and PCP (RFC 6887) codecs, the SSDP answer and IGD XML parsers: byte
 * layouts, and every hostile shape a router can send — wrong lengths, the other protocol's
 * version, a LOCATION or control URL on another host, huge or pathological XML — ends in a typed
 * PortmapError, fast, never a crash.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeNatpmpResponse,
  encodeNatpmpMapRequest,
} from '../../../../src/punch/portmap/natpmp-codec.js';
import {
  decodePcpResponse,
  encodePcpAnnounceRequest,
  encodePcpMapRequest,
} from '../../../../src/punch/portmap/pcp-codec.js';
import { decodeSsdpAnswer } from '../../../../src/punch/portmap/ssdp.js';
import {
  parseDescription,
  parseSoapFault,
  soapOutput,
  soapRequest,
} from '../../../../src/punch/portmap/igd-xml.js';
import { isPublicIPv4 } from '../../../../src/punch/portmap/address-scope.js';
import { PortmapError } from '../../../../src/punch/portmap/errors.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PortmapError);
    return (e as PortmapError).code;
  }
  return 'no error';
};

describe('NAT-PMP codec', () => {
  it('map request layout (RFC 6886 §3.3)', () => {
    const b = encodeNatpmpMapRequest({
      protocol: 'udp',
      internalPort: 0x1234,
      suggestedExternalPort: 0x5678,
      lifetimeSec: 7200,
    });
    expect([...b]).toEqual([0, 1, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x1c, 0x20]);
  });

  it('decodes a map reply and an address reply', () => {
    const map = Uint8Array.from([
      0, 129, 0, 0, 0, 0, 0, 9, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x1c, 0x20,
    ]);
    expect(decodeNatpmpResponse(map)).toEqual({
      kind: 'map',
      protocol: 'udp',
      epochSec: 9,
      internalPort: 0x1234,
      externalPort: 0x5678,
      lifetimeSec: 7200,
    });
    const addr = Uint8Array.from([0, 128, 0, 0, 0, 0, 0, 1, 203, 0, 113, 100]);
    expect(decodeNatpmpResponse(addr)).toMatchObject({ externalAddress: '203.0.113.100' });
  });

  it.each([
    ['empty', [], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    ['short map reply', [0, 129, 0, 0, 0, 0, 0, 9, 0x12, 0x34], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    [
      'long address reply',
      [0, 128, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5],
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    ],
    ['unknown opcode', [0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    [
      'a PCP server answering (version 2)',
      [2, 129, 0, 1],
      'NATPUSH_ERR_PORTMAP_UNSUPPORTED_VERSION',
    ],
    ['result 1', [0, 129, 0, 1, 0, 0, 0, 0], 'NATPUSH_ERR_PORTMAP_UNSUPPORTED_VERSION'],
    ['result 2 (not authorized)', [0, 129, 0, 2, 0, 0, 0, 0], 'NATPUSH_ERR_PORTMAP_REFUSED'],
  ])('%s → %s', (_name, bytes, want) => {
    expect(code(() => decodeNatpmpResponse(Uint8Array.from(bytes)))).toBe(want);
  });
});

describe('PCP codec', () => {
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

  it('MAP request layout (RFC 6887 §7.1, §11.1): 60 bytes, v4-mapped client address', () => {
    const b = encodePcpMapRequest({
      nonce,
      protocol: 'udp',
      internalPort: 4000,
      suggestedExternalPort: 4000,
      lifetimeSec: 7200,
      clientAddress: '192.168.1.10',
    });
    expect(b.length).toBe(60);
    expect([b[0], b[1]]).toEqual([2, 1]);
    expect([...b.subarray(8, 24)]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 10,
    ]);
    expect([...b.subarray(24, 36)]).toEqual([...nonce]);
    expect(b[36]).toBe(17);
    expect(encodePcpAnnounceRequest('192.168.1.10').length).toBe(24);
  });

  it('decodes the server answer to its own request shape', () => {
    const req = encodePcpMapRequest({
      nonce,
      protocol: 'udp',
      internalPort: 4000,
      suggestedExternalPort: 4001,
      lifetimeSec: 7200,
      clientAddress: '192.168.1.10',
      suggestedExternalAddress: '203.0.113.100',
    });
    const res = req.slice();
    res[1] = 0x81; // R bit
    res[3] = 0;
    const r = decodePcpResponse(res);
    expect(r).toMatchObject({
      opcode: 1,
      resultCode: 0,
      protocol: 'udp',
      internalPort: 4000,
      externalPort: 4001,
      externalAddress: '203.0.113.100',
    });
    expect([...r.nonce!]).toEqual([...nonce]);
  });

  it.each([
    [
      'a NAT-PMP server answering (version 0)',
      [0, 129, 0, 1, 0, 0, 0, 0],
      'NATPUSH_ERR_PORTMAP_UNSUPPORTED_VERSION',
    ],
    ['version 3', [3, 0x81, 0, 0], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    ['not a multiple of 4', [2, 0x81, 0, 0, 0], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    ['R bit clear', [2, 1, 0, 0], 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    [
      'MAP success without payload',
      [2, 0x81, 0, 0, ...new Array(20).fill(0)],
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    ],
    [
      'over 1100 bytes',
      [2, 0x81, 0, 0, ...new Array(1200).fill(0)],
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    ],
  ])('%s → %s', (_name, bytes, want) => {
    expect(code(() => decodePcpResponse(Uint8Array.from(bytes)))).toBe(want);
  });
});

describe('SSDP answers', () => {
  const answer = (loc: string) =>
    new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: ${loc}\r\n\r\n`,
    );
  it('takes LOCATION on the answering host', () => {
    expect(
      decodeSsdpAnswer(answer('http://192.168.1.1:2869/rootDesc.xml'), '192.168.1.1').location,
    ).toBe('http://192.168.1.1:2869/rootDesc.xml');
  });
  it.each([
    ['another host', 'http://10.9.9.9/x.xml', 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    ['https', 'https://192.168.1.1/x.xml', 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    ['garbage', '::::', 'NATPUSH_ERR_PORTMAP_MALFORMED'],
  ])('LOCATION on %s → %s', (_n, loc, want) => {
    expect(code(() => decodeSsdpAnswer(answer(loc), '192.168.1.1'))).toBe(want);
  });
  it('a giant answer is TOO_LARGE', () => {
    expect(code(() => decodeSsdpAnswer(new Uint8Array(5000), '192.168.1.1'))).toBe(
      'NATPUSH_ERR_PORTMAP_TOO_LARGE',
    );
  });
});

const DESC = (
  control: string,
  type = 'urn:schemas-upnp-org:service:WANIPConnection:1',
) => `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service>
</serviceList><deviceList><device><deviceList><device><serviceList>
<service><serviceType>${type}</serviceType><controlURL>${control}</controlURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>`;

describe('IGD description and SOAP', () => {
  it('finds the WAN connection service and resolves its control URL', () => {
    expect(parseDescription(DESC('/ctl/IPConn'), 'http://192.168.1.1:2869/rootDesc.xml')).toEqual({
      serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1',
      controlUrl: 'http://192.168.1.1:2869/ctl/IPConn',
    });
  });

  it('prefers WANIPConnection:2', () => {
    const two = DESC('/ctl/IPConn', 'urn:schemas-upnp-org:service:WANIPConnection:2');
    expect(parseDescription(two, 'http://192.168.1.1:2869/d.xml').serviceType).toMatch(/:2$/);
  });

  it.each([
    ['a control URL on another host', DESC('http://10.0.0.5/ctl'), 'NATPUSH_ERR_PORTMAP_MALFORMED'],
    [
      'no WAN service',
      DESC('/x', 'urn:schemas-upnp-org:service:Foo:1'),
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    ],
    ['70 kB of XML', DESC('/ctl') + ' '.repeat(70_000), 'NATPUSH_ERR_PORTMAP_TOO_LARGE'],
  ])('%s → %s', (_n, xml, want) => {
    expect(code(() => parseDescription(xml, 'http://192.168.1.1:2869/d.xml'))).toBe(want);
  });

  it('pathological XML (open tags without end, 64 kB) is rejected in one pass', () => {
    const evil = '<service><serviceType '.repeat(2900).slice(0, 64_000);
    // CPU time of this process, not wall time: a loaded machine keeps the worker off the CPU for
    // as long as it likes (a wall-clock bound fails by chance there), but it cannot make a linear
    // parse use more CPU.
    const cpu0 = process.cpuUsage();
    expect(code(() => parseDescription(evil, 'http://192.168.1.1/d.xml'))).toBe(
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    );
    const evil2 = '<NewExternalIPAddress x'.repeat(2700).slice(0, 64_000);
    expect(code(() => soapOutput(evil2, 'NewExternalIPAddress'))).toBe(
      'NATPUSH_ERR_PORTMAP_MALFORMED',
    );
    // Linear: milliseconds of CPU (quadratic would be tens of seconds).
    const cpu = process.cpuUsage(cpu0);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(1_000);
  });

  it('SOAP request escapes its arguments; a fault is read', () => {
    const { body, soapAction } = soapRequest('urn:x:1', 'AddPortMapping', [
      ['NewPortMappingDescription', '<&>'],
    ]);
    expect(body).toContain(
      '<NewPortMappingDescription>&#60;&#38;&#62;</NewPortMappingDescription>',
    );
    expect(soapAction).toBe('"urn:x:1#AddPortMapping"');
    expect(
      parseSoapFault(
        '<s:Fault><detail><UPnPError><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault>',
      ),
    ).toEqual({ errorCode: 718, errorDescription: 'ConflictInMappingEntry' });
    expect(
      soapOutput(
        '<u:R><NewExternalIPAddress>203.0.113.100</NewExternalIPAddress></u:R>',
        'NewExternalIPAddress',
      ),
    ).toBe('203.0.113.100');
  });
});

describe('public addresses', () => {
  it.each([
    ['203.0.113.100', true],
    ['198.51.100.10', true],
    ['8.8.8.8', true],
    ['100.64.1.100', false],
    ['100.127.255.1', false],
    ['192.168.1.1', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['172.32.0.1', true],
    ['0.0.0.0', false],
    ['::1', false],
  ])('%s public: %s', (a, want) => expect(isPublicIPv4(a)).toBe(want));
});
