import { describe, expect, it } from 'vitest';
import {
  labSpecFromArgs,
  parseDurationMs,
  parseHostArg,
  parsePercent,
} from '../../../netsim/cli-args.js';

describe('netsim CLI arguments', () => {
  it('parses durations and percentages', () => {
    expect(parseDurationMs('20ms')).toBe(20);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('7')).toBe(7);
    expect(parsePercent('1%')).toBe(1);
    expect(parsePercent('0.5')).toBe(0.5);
    expect(() => parseDurationMs('soon')).toThrow(/NATPUSH_ERR_USAGE|not a duration/);
    expect(() => parsePercent('120%')).toThrow(/over 100/);
  });

  it('parses host arguments', () => {
    expect(parseHostArg('a:symmetric')).toMatchObject({
      name: 'a',
      kind: 'nat',
      preset: 'symmetric',
    });
    expect(parseHostArg('b:full-cone,hairpin,cgn,udp-blocked,timeout=30')).toMatchObject({
      hairpinning: true,
      cgn: true,
      udpBlocked: true,
      timeoutSec: 30,
    });
    expect(parseHostArg('c@a')).toMatchObject({ kind: 'same-as', sameAs: 'a' });
    expect(parseHostArg('d:public')).toMatchObject({ kind: 'public' });
    expect(() => parseHostArg('e:bogus')).toThrow(/unknown preset/);
    expect(() => parseHostArg('e:symmetric,fast')).toThrow(/unknown host option/);
    expect(() => parseHostArg('d:public,hairpin')).toThrow(/no NAT options/);
    expect(() => parseHostArg('averylonghost:symmetric')).toThrow(/too long/);
  });

  it('parses the hard-NAT presets and the miniupnpd router option', () => {
    expect(parseHostArg('a:symmetric-sequential,upnp')).toMatchObject({
      preset: 'symmetric-sequential',
      upnp: 2,
    });
    expect(parseHostArg('b:address-dependent,upnp1')).toMatchObject({ upnp: 1 });
    const spec = labSpecFromArgs({ host: ['a:symmetric-preserving,upnp1'] });
    expect(spec.nats![0]).toMatchObject({
      preset: 'symmetric-preserving',
      miniupnpd: { igdVersion: 1 },
    });
    expect(() => parseHostArg('d:public,upnp')).toThrow(/no NAT options/);
  });

  it('builds a lab spec: one NAT per host, a shared CGN, shared NATs, links on every host', () => {
    const spec = labSpecFromArgs({
      host: ['a:symmetric', 'b:port-restricted,cgn', 'c@a', 'd:public'],
      delay: '20ms',
      loss: '1%',
    });
    expect(spec.nats).toEqual([
      { name: 'cgn', preset: 'port-restricted' },
      { name: 'a-nat', preset: 'symmetric' },
      { name: 'b-nat', preset: 'port-restricted', behind: 'cgn' },
    ]);
    expect(spec.hosts).toEqual([
      { name: 'a', behind: 'a-nat', link: { delayMs: 20, lossPercent: 1 } },
      { name: 'b', behind: 'b-nat', link: { delayMs: 20, lossPercent: 1 } },
      { name: 'c', behind: 'a-nat', link: { delayMs: 20, lossPercent: 1 } },
      { name: 'd', link: { delayMs: 20, lossPercent: 1 } },
    ]);
    expect(() => labSpecFromArgs({ host: ['c@zz'] })).toThrow(/not a NATed host/);
    expect(() => labSpecFromArgs({ host: [] })).toThrow(/at least one/);
  });
});
