/**
 * `natpush relay`: run the TURN server (RFC 8656) alone; `natpush relay mint <user>`: print
 * short-lived TURN credentials for a shared secret (coturn `use-auth-secret` format).
 *
 * Never an open relay: the command refuses to start without `--secret`/`--secret-file` or at
 * least one `--user name:password`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import readline from 'node:readline';
import os from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { nodeUdpNetwork } from '../../net/index.js';
import {
  DEFAULT_CREDENTIAL_TTL_S,
  DEFAULT_MAX_ALLOCATIONS_PER_IP,
  DEFAULT_TURN_PORT,
  SERVE_RELAY_LIMITS,
} from '../../relay/constants.js';
import type { CredentialStore } from '../../relay/credentials.js';
import { mintTurnCredentials, sharedSecret, staticUsers } from '../../relay/credentials.js';
import type { RelayPeerGate } from '../../relay/peer-gate.js';
import type { TurnServer } from '../../relay/index.js';
import { createRelayServer } from '../../relay/index.js';
import type { TurnServerOptions } from '../../relay/index.js';
import { NatpushError } from '../../util/errors.js';
import type { Clock } from '../../util/clock.js';
import type { LogLevel, Logger } from '../../util/logger.js';
import { jsonLogger } from '../../util/logger.js';

export interface RelayArgs {
  listen: string;
  port: number;
  'tcp-port'?: number;
  tcp: boolean;
  'relay-address'?: string;
  'external-address'?: string;
  realm: string;
  secret?: string;
  'secret-file'?: string;
  user: string[];
  'allow-peer': string[];
  'allow-loopback-peers': boolean;
  'max-allocations': number;
  'user-quota': number;
  'ip-quota': number;
  'user-bps': number;
  'total-bps': number;
  'stats-interval': number;
  'log-level': LogLevel;
  workers: number;
}

function usage(message: string): NatpushError {
  return new NatpushError('NATPUSH_ERR_USAGE', message);
}

/**
 * Where secrets come from besides argv (issue 8, finding 11: /proc/PID/cmdline is readable by
 * every local user, so `--secret X` hands X to all of them). Files and the environment
 * (/proc/PID/environ is readable only by the process's owner and root) are not.
 */
export const SECRET_ENV = {
  apiKey: 'NATPUSH_API_KEY',
  turnSecret: 'NATPUSH_TURN_SECRET',
  peerToken: 'NATPUSH_PEER_TOKEN',
  /** Static TURN users `name:password`, one per line (the relay's `--user`). */
  turnUsers: 'NATPUSH_TURN_USERS',
} as const;

/** Non-empty lines of a secret file or variable (one secret per line; surrounding blanks trimmed). */
export function secretLines(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Read a secret file; a file other users can read gets a warning (it is no secret then). */
export function readSecretFile(path: string, warn: (line: string) => void): string[] {
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      warn(`natpush: warning: ${path} is readable by other users; chmod 600 it`);
    }
    return secretLines(readFileSync(path, 'utf8'));
  } catch (err) {
    throw usage(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The warning an old-style secret flag earns: it still works. */
export function argvSecretWarning(flag: string, instead: string): string {
  return (
    `natpush: warning: ${flag} puts a secret on the command line, visible to every local user ` +
    `(ps, /proc/PID/cmdline); use ${instead}`
  );
}

const stderrWarn = (line: string): void => void process.stderr.write(line + '\n');

/** The first non-internal IPv4 address, for relayed sockets when listening on 0.0.0.0. */
export function defaultRelayAddress(listen: string): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function credentialsFrom(
  args: Pick<RelayArgs, 'secret' | 'secret-file' | 'user'>,
  env: NodeJS.ProcessEnv = {},
  warn: (line: string) => void = () => {},
): CredentialStore {
  const secret =
    args.secret ??
    (args['secret-file'] ? readSecretFile(args['secret-file'], warn)[0] : undefined) ??
    secretLines(env[SECRET_ENV.turnSecret])[0];
  const users: Record<string, string> = {};
  for (const u of [...args.user, ...secretLines(env[SECRET_ENV.turnUsers])]) {
    const i = u.indexOf(':');
    if (i <= 0) throw usage(`--user wants name:password, got ${JSON.stringify(u)}`);
    users[u.slice(0, i)] = u.slice(i + 1);
  }
  const stores: CredentialStore[] = [];
  if (secret) stores.push(sharedSecret(secret));
  if (Object.keys(users).length > 0) stores.push(staticUsers(users));
  if (stores.length === 0) {
    throw usage(
      `the relay needs credentials: --secret-file, $${SECRET_ENV.turnSecret}, $${SECRET_ENV.turnUsers} or --user name:password (never an open relay)`,
    );
  }
  if (stores.length === 1) return stores[0]!;
  // Static users first (coturn does the same when both are configured).
  return {
    password: (u, r, now) => stores[1]!.password(u, r, now) ?? stores[0]!.password(u, r, now),
    userOf: (u) => (users[u] !== undefined ? u : stores[0]!.userOf(u)),
  };
}

/** Turn parsed arguments into server options (STYLE.md §5: parse at the edge). */
export function relayOptionsFrom(
  args: RelayArgs,
  env: NodeJS.ProcessEnv = {},
  warn: (line: string) => void = () => {},
): TurnServerOptions {
  const allow = [...args['allow-peer']];
  if (args['allow-loopback-peers']) allow.push('127.0.0.0/8', '::1/128');
  return {
    net: nodeUdpNetwork,
    logger: jsonLogger(args['log-level']),
    listenAddress: args.listen,
    port: args.port,
    ...(args.tcp ? { tcpPort: args['tcp-port'] ?? args.port } : {}),
    relayAddress: args['relay-address'] ?? defaultRelayAddress(args.listen),
    ...(args['external-address'] ? { externalAddress: args['external-address'] } : {}),
    realm: args.realm,
    credentials: credentialsFrom(args, env, warn),
    peerPolicy: { allow },
    maxAllocations: args['max-allocations'],
    maxAllocationsPerUser: args['user-quota'],
    maxAllocationsPerIp: args['ip-quota'],
    userBytesPerSecond: args['user-bps'],
    totalBytesPerSecond: args['total-bps'],
  };
}

export function relayOptions(y: Argv): Argv<RelayArgs> {
  return y
    .option('listen', {
      type: 'string',
      default: '0.0.0.0',
      describe: 'listening address (UDP and TCP)',
    })
    .option('port', {
      type: 'number',
      default: DEFAULT_TURN_PORT,
      describe: 'UDP listening port (0 = any)',
    })
    .option('tcp', {
      type: 'boolean',
      default: true,
      describe: 'also listen on TCP (RFC 8656 §3.1); --no-tcp to disable',
    })
    .option('tcp-port', {
      type: 'number',
      describe: 'TCP port; default: the UDP port (with --port 0: any)',
    })
    .option('relay-address', {
      type: 'string',
      describe:
        'local address for relayed sockets; default: --listen, or the first non-loopback IPv4',
    })
    .option('external-address', {
      type: 'string',
      describe: 'address advertised in XOR-RELAYED-ADDRESS behind a 1:1 NAT',
    })
    .option('realm', {
      type: 'string',
      default: 'natpush',
      describe: 'REALM of the long-term credentials',
    })
    .option('secret', {
      type: 'string',
      describe: `TURN REST shared secret (coturn static-auth-secret); visible to all local users in argv: prefer --secret-file or $${SECRET_ENV.turnSecret}`,
    })
    .option('secret-file', {
      type: 'string',
      describe: `file holding the shared secret (default: $${SECRET_ENV.turnSecret})`,
    })
    .option('user', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: `static user name:password (repeatable; visible in argv: prefer $${SECRET_ENV.turnUsers}, one per line)`,
    })
    .option('allow-peer', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'CIDR of otherwise refused peers to allow (labs)',
    })
    .option('allow-loopback-peers', {
      type: 'boolean',
      default: false,
      describe: 'allow relaying to 127.0.0.0/8 and ::1 (tests only)',
    })
    .option('max-allocations', {
      type: 'number',
      default: 10_000,
      describe: 'allocations on the whole server (508 beyond)',
    })
    .option('user-quota', {
      type: 'number',
      default: 10,
      describe: 'allocations per user (486 beyond)',
    })
    .option('ip-quota', {
      type: 'number',
      default: DEFAULT_MAX_ALLOCATIONS_PER_IP,
      describe: 'allocations per client IPv4 address or IPv6 /64 (486 beyond)',
    })
    .option('user-bps', {
      type: 'number',
      default: 0,
      describe: 'relayed bytes/s per user, 0 = unlimited',
    })
    .option('total-bps', {
      type: 'number',
      default: 0,
      describe: 'relayed bytes/s of the whole relay, 0 = unlimited',
    })
    .option('stats-interval', {
      type: 'number',
      default: 0,
      describe: 'log counters every N seconds (0 = never)',
    })
    .option('workers', {
      type: 'number',
      default: 1,
      describe:
        'relay processes: N > 1 runs N workers on --port+1 … --port+N and directs Allocates to them (300 Try Alternate); quotas are per worker',
    })
    .option('log-level', {
      choices: ['debug', 'info', 'warn', 'error'] as const,
      default: 'info' as LogLevel,
    }) as unknown as Argv<RelayArgs>;
}

/** Warn about each secret given on argv (it keeps working). */
function warnArgvSecrets(args: RelayArgs, warn: (line: string) => void): void {
  if (args.secret !== undefined)
    warn(argvSecretWarning('--secret', `--secret-file or $${SECRET_ENV.turnSecret}`));
  if (args.user.length > 0) warn(argvSecretWarning('--user', `$${SECRET_ENV.turnUsers}`));
}

/** Start from parsed arguments; resolves once listening. */
export async function startRelay(
  args: RelayArgs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TurnServer> {
  const options = relayOptionsFrom(args, env, stderrWarn);
  // `--port 0` with TCP: let TCP pick its own free port too.
  if (args.port === 0 && args.tcp && args['tcp-port'] === undefined) options.tcpPort = 0;
  const server = await createRelayServer(options);
  const a = server.addresses();
  options.logger?.info('turn relay listening', {
    udp: `${a.udp.address}:${a.udp.port}`,
    tcp: a.tcp ? `${a.tcp.address}:${a.tcp.port}` : undefined,
    relayAddress: options.relayAddress,
    realm: options.realm,
  });
  return server;
}

const mint: CommandModule<
  object,
  { user: string; secret?: string; 'secret-file'?: string; ttl: number }
> = {
  command: 'mint <user>',
  describe: 'print short-lived TURN credentials for <user> (JSON: username, password, ttl)',
  builder: (y) =>
    y
      .positional('user', { type: 'string', demandOption: true })
      .option('secret', { type: 'string', describe: 'visible in argv: prefer --secret-file' })
      .option('secret-file', { type: 'string', describe: `default: $${SECRET_ENV.turnSecret}` })
      .option('ttl', { type: 'number', default: DEFAULT_CREDENTIAL_TTL_S }) as never,
  handler: (args) => {
    if (args.secret !== undefined)
      stderrWarn(argvSecretWarning('--secret', `--secret-file or $${SECRET_ENV.turnSecret}`));
    const secret =
      args.secret ??
      (args['secret-file'] ? readSecretFile(args['secret-file'], stderrWarn)[0] : undefined) ??
      secretLines(process.env[SECRET_ENV.turnSecret])[0];
    if (!secret) throw usage(`mint needs --secret-file or $${SECRET_ENV.turnSecret}`);
    console.log(JSON.stringify(mintTurnCredentials(secret, args.user, args.ttl)));
  },
};

/**
 * The command line of one worker: the same settings on its own port — but no secret: those go in
 * the worker's environment (workerEnv), where other local users cannot read them.
 */
function workerArgv(a: RelayArgs, port: number): string[] {
  const opt = (name: string, v: string | number | undefined): string[] =>
    v === undefined ? [] : [`--${name}`, String(v)];
  return [
    'relay',
    ...opt('listen', a.listen),
    ...opt('port', port),
    ...(a.tcp ? [] : ['--no-tcp']),
    ...opt('relay-address', a['relay-address']),
    ...opt('external-address', a['external-address']),
    ...opt('realm', a.realm),
    ...a['allow-peer'].flatMap((c) => ['--allow-peer', c]),
    ...(a['allow-loopback-peers'] ? ['--allow-loopback-peers'] : []),
    ...opt('max-allocations', a['max-allocations']),
    ...opt('user-quota', a['user-quota']),
    ...opt('ip-quota', a['ip-quota']),
    ...opt('user-bps', a['user-bps']),
    ...opt('total-bps', a['total-bps']),
    ...opt('stats-interval', a['stats-interval']),
    ...opt('log-level', a['log-level']),
  ];
}

/**
 * More cores (issue 5): Node 20's dgram cannot share a port between processes with SO_REUSEPORT,
 * and a shared socket would scatter one client's 5-tuple over processes, so each worker is a
 * whole relay on its own port and this process only directs: every Allocate gets 300 Try
 * Alternate to the next worker (RFC 8489 §10, RFC 8656 §7.2); the allocation then lives, relayed
 * socket and all, in that worker.
 */
export async function startRelayWorkers(
  a: RelayArgs,
  cli: string,
): Promise<{ director: TurnServer; workers: ChildProcess[]; close(): Promise<void> }> {
  if (a.port === 0) throw usage('--workers needs a fixed --port (workers use --port+1 … --port+N)');
  const workers: ChildProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(
      workers.map((w) => {
        if (w.exitCode !== null || w.signalCode !== null) return Promise.resolve();
        const exited = new Promise((r) => w.once('exit', r));
        w.kill('SIGTERM');
        return exited;
      }),
    );
  };
  // Resolved here, once: the workers get the secret and users in their environment, never argv.
  const env: NodeJS.ProcessEnv = { ...process.env, NATPUSH_RELAY_WORKER: '1' };
  const secret =
    a.secret ??
    (a['secret-file'] ? readSecretFile(a['secret-file'], stderrWarn)[0] : undefined) ??
    secretLines(process.env[SECRET_ENV.turnSecret])[0];
  if (secret !== undefined) env[SECRET_ENV.turnSecret] = secret;
  else delete env[SECRET_ENV.turnSecret];
  const users = [...a.user, ...secretLines(process.env[SECRET_ENV.turnUsers])];
  if (users.length > 0) env[SECRET_ENV.turnUsers] = users.join('\n');
  try {
    for (let i = 0; i < a.workers; i++) {
      const w = spawn(process.execPath, [cli, ...workerArgv(a, a.port + 1 + i)], {
        // stdin is a pipe the worker watches: when the director dies, however, it ends and the
        // worker shuts down instead of lingering as an orphan holding its port.
        stdio: ['pipe', 'inherit', 'pipe'],
        env,
      });
      workers.push(w);
      await new Promise<void>((resolve, reject) => {
        w.once('exit', (code) => reject(usage(`relay worker ${i + 1} exited with ${code}`)));
        readline.createInterface({ input: w.stderr! }).on('line', (l) => {
          process.stderr.write(l + '\n');
          if (l.includes('turn relay listening')) resolve();
        });
      });
    }
    const options = relayOptionsFrom(a, env);
    const listen = a.listen !== '0.0.0.0' && a.listen !== '::' ? a.listen : undefined;
    const advertised = a['external-address'] ?? listen ?? options.relayAddress;
    options.alternateServers = workers.map((_, i) => ({
      address: advertised,
      port: a.port + 1 + i,
    }));
    const director = await createRelayServer(options);
    const d = director.addresses();
    options.logger?.info('turn relay listening', {
      role: 'director',
      udp: `${d.udp.address}:${d.udp.port}`,
      tcp: d.tcp ? `${d.tcp.address}:${d.tcp.port}` : undefined,
      workers: options.alternateServers?.map((w) => `${w.address}:${w.port}`),
    });
    return { director, workers, close };
  } catch (err) {
    await close();
    throw err;
  }
}

const run: CommandModule<object, RelayArgs> = {
  command: '$0',
  describe: 'run the TURN relay',
  builder: relayOptions,
  handler: async (args) => {
    if (process.env.NATPUSH_RELAY_WORKER !== '1') warnArgvSecrets(args, stderrWarn);
    if (args.workers > 1) {
      const { director, close } = await startRelayWorkers(args, process.argv[1]!);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await director.close();
      await close();
      return;
    }
    const server = await startRelay(args);
    const log = jsonLogger(args['log-level']);
    let statsTimer: NodeJS.Timeout | undefined;
    if (args['stats-interval'] > 0) {
      statsTimer = setInterval(
        () =>
          log.info('turn relay counters', {
            allocations: server.allocationCount,
            ...server.counters.snapshot(),
          }),
        args['stats-interval'] * 1000,
      );
    }
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      if (process.env.NATPUSH_RELAY_WORKER === '1') {
        process.stdin.once('end', stop);
        process.stdin.once('close', stop);
        process.stdin.resume();
      }
    });
    if (statsTimer) clearInterval(statsTimer);
    if (process.env.NATPUSH_RELAY_WORKER === '1') process.stdin.destroy(); // let the loop end
    await server.close();
  },
};

export const relayCommand: CommandModule = {
  command: 'relay',
  describe: 'TURN relay server (RFC 8656) over UDP and TCP, with TURN REST credentials',
  builder: (y) => y.command(run as CommandModule).command(mint as CommandModule),
  handler: () => {},
};

/**
 * The TURN shared secret of `natpush serve`: given, or generated once into the data directory
 * (mode 0600) — the same secret lets `serve` mint credentials for its peers and lets separate
 * `natpush relay --secret-file` processes accept them.
 */
export function turnSecret(dataDir: string, given?: string): { secret: string; file?: string } {
  if (given) return { secret: given };
  const file = join(dataDir, 'turn-secret');
  try {
    return { secret: readFileSync(file, 'utf8').trim(), file };
  } catch {
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return { secret, file };
  }
}

export interface ServeRelayOptions {
  dataDir: string;
  host: string;
  port: number;
  secret?: string;
  relayAddress?: string;
  /** Advertised in XOR-RELAYED-ADDRESS behind a 1:1 NAT (serve's --relay-public-address). */
  externalAddress?: string;
  /** Who peers may relay to (serve's rendezvous table); undefined = a plain TURN server. */
  peerGate?: RelayPeerGate;
  logger: Logger;
  clock?: Clock;
}

/** The TURN relay as a part of `natpush serve` (UDP and TCP on the same port, REST credentials). */
export async function startServeRelay(
  o: ServeRelayOptions,
): Promise<{ server: TurnServer; secret: string; endpoints: string[]; secretFile?: string }> {
  const { secret, file } = turnSecret(o.dataDir, o.secret);
  const server = await createRelayServer({
    net: nodeUdpNetwork,
    logger: o.logger,
    ...(o.clock ? { clock: o.clock } : {}),
    listenAddress: o.host,
    port: o.port,
    tcpPort: o.port,
    relayAddress: o.relayAddress ?? defaultRelayAddress(o.host),
    ...(o.externalAddress ? { externalAddress: o.externalAddress } : {}),
    credentials: sharedSecret(secret),
    ...(o.peerGate ? { peerGate: o.peerGate } : {}),
    ...SERVE_RELAY_LIMITS,
  });
  const a = server.addresses();
  const endpoints = [`turn:${a.udp.address}:${a.udp.port}?transport=udp`];
  if (a.tcp) endpoints.push(`turn:${a.tcp.address}:${a.tcp.port}?transport=tcp`);
  return { server, secret, endpoints, ...(file ? { secretFile: file } : {}) };
}
