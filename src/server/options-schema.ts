/**
 * One options schema per server command (STYLE.md §5: typed options parsed at the edge). A zod
 * object whose keys are the flag names is the single place an option is spelled: the yargs flags
 * (type, default, choices, help text) are derived from it, the parsed argv and any `--config`
 * file are validated by it, and the composition (createRelay / createServe / createStun) takes
 * its output type. Adding an option is one entry in the schema.
 */
import { readFileSync } from 'node:fs';
import type { Argv, Options } from 'yargs';
import { z } from 'zod';
import { optionError, SERVER_ERR } from './errors.js';

/** A command's schema: a zod object keyed by flag name (kebab-case). */
export type OptionsSchema = z.ZodObject<z.ZodRawShape>;

interface JsonProperty {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  items?: { type?: string };
  anyOf?: JsonProperty[];
}

/** The yargs flag of one schema property, from its JSON Schema (zod's own conversion). */
export function flagOf(p: JsonProperty): Options {
  const alt = p.anyOf?.find((x) => x.type !== 'null') ?? p;
  const o: Options = {};
  if (p.description !== undefined) o.describe = p.description;
  if (alt.enum) o.choices = alt.enum as string[];
  else if (alt.type === 'array') {
    o.type = alt.items?.type === 'number' || alt.items?.type === 'integer' ? 'number' : 'string';
    o.array = true;
  } else if (alt.type === 'boolean') o.type = 'boolean';
  else if (alt.type === 'number' || alt.type === 'integer') o.type = 'number';
  else o.type = 'string';
  if (p.default !== undefined) o.default = p.default;
  return o;
}

/** Every flag of the schema, in declaration order (help lists them so). */
export function flagsOf(schema: OptionsSchema): Record<string, Options> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonProperty>;
  };
  const out: Record<string, Options> = {};
  for (const [name, p] of Object.entries(json.properties ?? {})) out[name] = flagOf(p);
  return out;
}

/**
 * Declare the schema's flags on a yargs instance, plus `--config FILE` (JSON, the same keys as
 * the flags; flags given on the command line win over the file, the file over the defaults).
 */
export function withFlags<T>(y: Argv, schema: OptionsSchema): Argv<T> {
  let out = y;
  for (const [name, o] of Object.entries(flagsOf(schema))) out = out.option(name, o);
  return out.config(
    'config',
    'JSON file of options (the flag names as keys); flags on the command line win',
    (path: string) => readConfigFile(path, schema),
  ) as unknown as Argv<T>;
}

/** A `--config` file: a JSON object whose keys are the schema's (unknown keys are refused). */
export function readConfigFile(path: string, schema: OptionsSchema): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw optionError(`--config ${path}: ${(err as Error).message}`, SERVER_ERR.CONFIG_FILE);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw optionError(`--config ${path}: not a JSON object`, SERVER_ERR.CONFIG_FILE);
  }
  const known = new Set(Object.keys(schema.shape));
  const unknown = Object.keys(data).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw optionError(
      `--config ${path}: unknown option ${unknown.join(', ')}`,
      SERVER_ERR.CONFIG_FILE,
    );
  }
  // Validate the file's values now, so its mistakes name the file.
  const r = schema.partial().safeParse(data);
  if (!r.success)
    throw optionError(`--config ${path}: ${issueText(r.error)}`, SERVER_ERR.CONFIG_FILE);
  return data as Record<string, unknown>;
}

function issueText(e: z.ZodError): string {
  return e.issues
    .map((i) => `${i.path.length > 0 ? `--${i.path.join('.')}` : 'options'}: ${i.message}`)
    .join('; ');
}

/**
 * Validate parsed argv (or a plain object from a library caller) against the schema: only the
 * schema's keys are read (yargs adds camelCase copies, `_`, `$0`), defaults fill what is absent.
 * Throws NATPUSH_ERR_USAGE (exit 2) naming the flag.
 */
export function parseOptions<S extends OptionsSchema>(
  schema: S,
  raw: Record<string, unknown>,
): z.output<S> {
  const picked: Record<string, unknown> = {};
  for (const k of Object.keys(schema.shape)) if (raw[k] !== undefined) picked[k] = raw[k];
  const r = schema.safeParse(picked);
  if (!r.success) throw optionError(issueText(r.error));
  return r.data;
}

/** zod helpers shared by the command schemas. */
export const port = (describe: string, dflt: number) =>
  z.number().int().min(0).max(65_535).default(dflt).describe(describe);
export const count = (describe: string, dflt: number, min = 1) =>
  z.number().int().min(min).default(dflt).describe(describe);
export const logLevel = (dflt: 'debug' | 'info' | 'warn' | 'error') =>
  z
    .enum(['debug', 'info', 'warn', 'error'])
    .default(dflt)
    .describe('log level (JSON lines on stderr)');

/** `--metrics-port` / `--metrics-host` of the servers that run alone (relay, stun). */
export const metricsOptions = {
  'metrics-port': z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe(
      'serve Prometheus /metrics over HTTP on this port (the whole server, every worker summed); default: none',
    ),
  'metrics-host': z.string().min(1).default('127.0.0.1').describe('address of --metrics-port'),
};

const turnUri = z.string().regex(/^turns?:[^\s]{1,294}$/, 'a turn: URI (RFC 7065)');
const region = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a region label: letters, digits, _ . : - (at most 64)');

/**
 * Relay fleets (issue 12, src/cluster/relay-registration.ts): `natpush relay` joins the serve
 * cluster's Redis and reports its URLs, region and load; serve nodes hand it to peers.
 */
export const relayFleetOptions = {
  redis: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Redis URL of the serve cluster (redis://, rediss://, unix:///path; also $NATPUSH_REDIS_URL): register this relay (its URLs, region and load, renewed every 2 s, gone 6 s after it stops) so serve nodes hand it to peers; serve's --turn-secret must be this relay's secret",
    ),
  region: region
    .optional()
    .describe(
      'region label of this relay (with --redis): serve nodes of the same --region prefer it',
    ),
  'public-url': z
    .array(turnUri)
    .max(4)
    .optional()
    .describe(
      'turn: URI peers reach this relay at (repeatable, UDP first; with --redis). Default: turn:HOST:PORT?transport=udp (and tcp) on --external-address, else --listen, else --relay-address',
    ),
};

/** serve's side of relay fleets (src/cluster/relay-fleet.ts). */
export const serveFleetOptions = {
  'turn-url': z
    .array(turnUri)
    .optional()
    .describe(
      "a TURN server of an existing fleet sharing --turn-secret (coturn use-auth-secret / static-auth-secret), e.g. turn:turn1.example.com:3478?transport=udp (repeatable; URLs of one host:port are one server). Peers get credentials for one picked by load, with --redis relays and serve's own relay",
    ),
  region: region
    .optional()
    .describe('region label of this node: relays registered with the same --region are preferred'),
};
