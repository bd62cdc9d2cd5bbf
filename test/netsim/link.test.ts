/**
 * Link impairments, measured: delay (iptables NFQUEUE + nfq-delay.c), jitter, and loss (nft
 * `numgen random`). Round trips between a host behind a NAT and an echoing server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';
import { Probe } from '../support/probe.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

function report(what: string, rtts: number[], lost: number): void {
  const f = (q: number) => quantile(rtts, q).toFixed(1);
  process.stderr.write(
    `netsim ${what}: RTT min ${f(0)} p50 ${f(0.5)} p90 ${f(0.9)} ms, lost ${lost}\n`,
  );
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

describe.skipIf(skip)('netsim link impairments, measured', () => {
  let lab: Lab;
  const probes: Probe[] = [];
  let echo: { sock: string; port: number };

  beforeAll(async () => {
    lab = await Lab.create({
      nats: [
        { name: 'n-plain', preset: 'port-restricted' },
        { name: 'n-delay', preset: 'port-restricted' },
        { name: 'n-jitter', preset: 'port-restricted' },
        { name: 'n-loss', preset: 'port-restricted' },
        { name: 'n-wan', preset: 'symmetric', link: { delayMs: 15 } },
      ],
      hosts: [
        { name: 'plain', behind: 'n-plain' },
        { name: 'delay', behind: 'n-delay', link: { delayMs: 20 } },
        { name: 'jitter', behind: 'n-jitter', link: { delayMs: 20, jitterMs: 10 } },
        { name: 'loss', behind: 'n-loss', link: { lossPercent: 20 } },
        { name: 'wan', behind: 'n-wan' },
      ],
    });
    const server = await Probe.start(lab, 'server');
    probes.push(server);
    echo = await server.bind();
    server.echo(echo.sock);
  });

  afterAll(async () => {
    for (const p of probes) p.close();
    await lab?.destroy();
  });

  async function pings(host: string, count: number, intervalMs: number) {
    const p = await Probe.start(lab, host);
    probes.push(p);
    const { sock } = await p.bind();
    return p.ping(sock, lab.address('server'), echo.port, count, intervalMs);
  }

  it('no impairment: round trips well under a few ms', async () => {
    const { rtts, lost } = await pings('plain', 20, 5);
    report('no impairment', rtts, lost);
    expect(lost).toBe(0);
    // Far below the 40 ms of the delayed host below. The fastest round trip, not the median:
    // scheduling the probe processes on a loaded 2-core machine takes the p90 to 22 ms (load 20),
    // while at least one of 20 still goes through at once (0.3 ms) unless a delay is applied.
    expect(Math.min(...rtts)).toBeLessThan(10);
  });

  it('delayMs 20 on the host link: every round trip takes ≥ 40 ms (20 ms each way)', async () => {
    const { rtts, lost } = await pings('delay', 30, 10);
    report('delay 20 ms on the host link', rtts, lost);
    expect(lost).toBe(0);
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(39.5);
    // Upper bounds on the FASTEST round trip, halfway to a doubled delay (80 ms here, 60 ms on the
    // WAN link, ≥ 40 ms with jitter): a delay applied twice fails them on every run, while load
    // only lengthens some round trips. The median did not hold under load: nfq-delay is a
    // process too, and at load 20 on 2 cores the WAN link's p50 was 68 ms for a 30 ms delay
    // (bound 52) and this link's 59 ms (bound 70); the minima were 36.5 and 41.4 ms.
    expect(Math.min(...rtts)).toBeLessThan(60);
  });

  it('delay on a NAT WAN link applies to hosts behind it', async () => {
    const { rtts, lost } = await pings('wan', 20, 10);
    report('delay 15 ms on the NAT WAN link', rtts, lost);
    expect(lost).toBe(0);
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(29.5);
    expect(Math.min(...rtts)).toBeLessThan(45);
  });

  it('jitterMs 10: round trips spread over [20, 60] ms', async () => {
    const { rtts, lost } = await pings('jitter', 60, 5);
    report('delay 20 ± 10 ms', rtts, lost);
    expect(lost).toBe(0);
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(19.5);
    expect(quantile(rtts, 0.9) - quantile(rtts, 0.1)).toBeGreaterThan(8);
    // Each way uniform in [10, 30] ms: half the round trips are under 40 ms, the fastest of 60
    // all but surely (a doubled delay: none under 40 ms).
    expect(Math.min(...rtts)).toBeLessThan(40);
  });

  it('lossPercent 20 per direction: about 36 % of round trips lost', async () => {
    const n = 500;
    const { rtts, lost } = await pings('loss', n, 2);
    report(`loss 20 % per direction, ${n} probes`, rtts, lost);
    // 1 - 0.8² = 0.36; ±5 standard deviations (σ ≈ 0.021) so the test does not flake.
    expect(lost / n).toBeGreaterThan(0.25);
    expect(lost / n).toBeLessThan(0.47);
  });
});
