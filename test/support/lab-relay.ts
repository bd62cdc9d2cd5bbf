/**
 * Our TURN relay (`natpush relay`, TURN REST credentials) on a netsim lab's internet server, for
 * the netsim relay tests. It logs JSON lines on stderr: "turn relay listening" once, then
 * "turn relay counters" every second (RelayCounters.snapshot()), which the tests use as proof
 * that bytes crossed it.
 */
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../netsim/index.js';
import { requireBuiltCli } from './natpush-cli.js';

export const LAB_RELAY_PORT = 3478;

/** Spawns the relay in the lab's `server` namespace; stderr is piped, the lab kills it on destroy. */
export function spawnLabRelay(lab: Lab, secret: string): ChildProcess {
  const cli = requireBuiltCli();
  const args = ['relay', '--listen', lab.address('server'), '--port', String(LAB_RELAY_PORT)];
  args.push('--secret', secret, '--stats-interval', '1', '--log-level', 'info');
  return lab.spawn('server', process.execPath, [cli, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}
