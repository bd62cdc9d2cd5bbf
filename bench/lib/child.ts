/** Fork a bench helper (compiled JS next to this file) and talk to it over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Helper {
  child: ChildProcess;
  next<T>(): Promise<T>;
  ask<T>(msg: unknown): Promise<T>;
  stop(): Promise<void>;
  exited: Promise<void>;
}

export function helper(file: string, args: string[], execArgv: string[] = []): Helper {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), args, {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const queue: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  child.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  let exitedEarly = false;
  const failures: ((e: Error) => void)[] = [];
  child.once('exit', (code, signal) => {
    exitedEarly = true;
    const err = new Error(`bench helper ${file} exited (code ${code}, signal ${signal})`);
    for (const fail of failures.splice(0)) fail(err);
  });
  // A helper that dies before answering fails the bench instead of hanging it.
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      if (queue.length > 0) return resolve(queue.shift() as T);
      if (exitedEarly) return reject(new Error(`bench helper ${file} has exited`));
      waiters.push(resolve as (m: unknown) => void);
      failures.push(reject);
    });
  return {
    child,
    exited,
    next,
    ask: <T>(msg: unknown) => {
      child.send(msg as object);
      return next<T>();
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.send({ cmd: 'exit' });
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }
      await exited;
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
