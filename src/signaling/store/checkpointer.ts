/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever
 * commit crosses `wal_autocheckpoint` pages and fsyncs the WAL and the database there — tens of
 * milliseconds during which a single-threaded server answers nobody (it was the p99 of
 * bench/signaling-throughput). Instead a worker thread with its own connection runs
 * `wal_checkpoint(PASSIVE)` on a timer: PASSIVE never blocks writers or readers, and WAL mode
 * lets it run concurrently with the main connection (https://www.sqlite.org/wal.html#ckpt).
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage(String(err)); }
}, workerData.intervalMs);
parentPort.on('message', (m) => { if (m === 'close') { clearInterval(timer); db.close(); process.exit(0); } });
`;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;

  /** `onError` gets every failed checkpoint and a crash of the worker (counted by the caller). */
  constructor(file: string, intervalMs: number, onError: (msg: string) => void) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER, { eval: true, workerData: { file, intervalMs, driver } });
    this.#exited = new Promise<void>((r) => this.#worker.once('exit', () => r()));
    this.#worker.on('message', (m: string) => onError(m));
    this.#worker.on('error', (err) => onError(String(err)));
    // Unref'd while it only ticks: a timer thread must not keep a finished process alive.
    this.#worker.unref();
  }

  /**
   * Stop the worker and close its connection. Ref'd again first: during a shutdown (SIGTERM)
   * this worker may be the last thing on the event loop, and an unref'd worker does not keep
   * the process alive — Node would exit before the worker, and everything after this close
   * (closing the main connection, which checkpoints and removes the WAL), had run (issue 8,
   * finding 11). Resolves also if the worker had already died.
   */
  async close(): Promise<void> {
    this.#worker.ref();
    this.#worker.postMessage('close');
    await this.#exited;
  }
}
