/**
 * CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat (fields 14 and
 * 15, utime and stime, in clock ticks: USER_HZ is 100 on Linux, proc(5)). The benches divide a
 * server's CPU by the notifications it carried: on a machine shared with other jobs that figure
 * moves far less than the wall-clock rate does.
 */
import { readFileSync } from 'node:fs';

const TICK_MS = 10;

export function cpuMs(pid: number): number {
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}
