/**
 * /proc readings summed over a server's process tree: `relay --workers N` is a primary with N
 * node:cluster children, coturn one process with threads (counted by /proc/PID/stat already).
 * The benchmarks charge a server for every process it runs.
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds, rssKiB } from './relay-servers.js';

/** `pid` and its descendants (from /proc/PID/task/TID/children). */
export function treePids(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let kids = '';
    try {
      kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    for (const k of kids.trim().split(/\s+/)) if (k) out.push(Number(k));
  }
  return out;
}

function sum(pid: number, read: (p: number) => number): number {
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      total += read(p);
    } catch {
      // exited between the listing and the read
    }
  }
  return total;
}

/** CPU seconds (user + system) of the tree. */
export const treeCpuSeconds = (pid: number): number => sum(pid, cpuSeconds);

/** Resident set of the tree, KiB (shared pages of forked workers counted once per process,
 *  as the kernel's accounting and `ps` do). */
export const treeRssKiB = (pid: number): number => sum(pid, rssKiB);
