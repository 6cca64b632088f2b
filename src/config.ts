import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';
import type { NotifyQueueGuardOptions } from './rpc/notify-queue';

/**
 * Engine configuration. Every field comes from one environment variable; the default is
 * documented next to it and in the README ("Configuration").
 */
export interface Config {
  /** DATABASE_URL. Unset: the engine starts its own embedded Postgres under `home`. */
  databaseUrl?: string;
  /** IASQL_HOME, default `./.iasql`: embedded Postgres data, admin token, first database's URL. */
  home: string;
  /** IASQL_API_HOST, default 127.0.0.1. */
  apiHost: string;
  /** IASQL_API_PORT, default 8088 (0 picks a free port). */
  apiPort: number;
  /** IASQL_PG_PORT, default 5433: port of the embedded Postgres (ignored with DATABASE_URL). */
  pgPort: number;
  /** IASQL_ADMIN_TOKEN: when set, the REST API accepts it instead of the generated token. */
  adminToken?: string;
  /** IASQL_MODULE_PATH: extra module directories, separated by ':'. */
  modulePath: string[];
  /** LOG_LEVEL, default info (trace, debug, info, warn, error, fatal, silent). */
  logLevel: string;
  /** LOG_FORMAT, default auto: readable lines when stderr is a terminal, JSON lines otherwise (json, pretty). */
  logFormat?: 'auto' | 'json' | 'pretty';
  /** IASQL_METADATA_DB, default iasql_metadata: the engine's own database. */
  metadataDatabase: string;
  /** IASQL_DEFAULT_DATABASE, default iasql: managed database created on first start ('' for none). */
  defaultDatabase: string;
  /** IASQL_WORKER_CONCURRENCY, default 10: rpc calls this process runs at once (0: run no worker here). */
  workerConcurrency: number;
  /** IASQL_RPC_HISTORY_DAYS, default 30: iasql_rpc rows older than this are pruned hourly. */
  rpcHistoryDays: number;
  /** IASQL_RPC_HISTORY_MAX, default 10000: at most this many iasql_rpc rows per database. */
  rpcHistoryMax: number;
  /** IASQL_COMMIT_CONCURRENCY, default 10: cloud operations a commit runs at once per service and region. */
  commitConcurrency?: number;
  /**
   * IASQL_LOCAL_CLOUD: true, false or memory; default true without DATABASE_URL, false with it.
   * The local cloud (DynamoDB, for now) on 127.0.0.1, its data under `<home>/localcloud`
   * ('disk'), or kept in memory and lost on stop ('memory').
   */
  localCloud: 'off' | 'disk' | 'memory';
  /** IASQL_LOCAL_CLOUD_PORT, default 4566 (0 picks a free port): the local cloud's endpoint. */
  localCloudPort: number;
  /** IASQL_RPC_CONCURRENCY_PER_DATABASE, default half of workerConcurrency (rounded up): calls of one database this process runs at once. */
  rpcConcurrencyPerDatabase?: number;
  /** IASQL_RPC_TIMEOUT_MAX_MS, default 3600000: ceiling of iasql.rpc_timeout_ms (higher values are clamped with a NOTICE). */
  rpcTimeoutMaxMs?: number;
  /** IASQL_RPC_MAX_ARGS_BYTES, default 6291456 (6 MiB): larger arguments are refused with IQ002 before anything runs. */
  rpcMaxArgsBytes?: number;
  /** IASQL_RPC_MAX_RESULT_BYTES, default 16777216 (16 MiB): a larger result fails the call with IQ002. */
  rpcMaxResultBytes?: number;
  /** IASQL_TENANT_CONNECTION_LIMIT, default 20: CONNECTION LIMIT of each tenant role (set when its database is created). */
  tenantConnectionLimit?: number;
  /**
   * IASQL_LOCAL_CLOUD_INVOKE, default trusted: when the engine is not root (so cannot run Lambda
   * handlers as separate users), run them as the engine's own user ('trusted') or refuse Invoke
   * ('refused'). Ignored as root: handlers then always run sandboxed, one user per account.
   */
  localCloudInvoke?: 'trusted' | 'refused';
  /**
   * IASQL_LOCAL_CLOUD_PROPAGATION_MS, default 0 (off): the local cloud behaves as eventually
   * consistent as AWS for this long after a change (a new role is not yet usable by Lambda, a
   * DynamoDB table stays CREATING / UPDATING / DELETING); see docs/local-cloud.md.
   */
  localCloudPropagationMs?: number;
  /**
   * IASQL_ALLOWED_ENDPOINTS, default none: origins (scheme://host[:port]; a host may start with
   * '*.') that aws_credentials.endpoint may name, besides AWS's own endpoints and the engine's
   * local cloud, which are always allowed.
   */
  allowedEndpoints?: string[];
  /**
   * No environment variable: how often the engine reads the NOTIFY queue's usage and how old a
   * tenant transaction must be to be ended while the queue fills (src/rpc/notify-queue.ts; tests
   * shorten both). Defaults 5000 ms and 10000 ms.
   */
  notifyQueueGuard?: NotifyQueueGuardOptions;
  /**
   * IASQL_SHUTDOWN_GRACE_MS, default 10000: on a stop (Ctrl-C, SIGTERM), how long calls still
   * running may take to finish before they are ended (their callers get IQ005).
   */
  shutdownGraceMs?: number;
}

/** Defaults of the optional quotas and limits, in one place (README "Configuration" lists them). */
export const QUOTA_DEFAULTS = {
  rpcTimeoutMaxMs: 3_600_000,
  rpcMaxArgsBytes: 6 * 1024 * 1024,
  rpcMaxResultBytes: 16 * 1024 * 1024,
  tenantConnectionLimit: 20,
  shutdownGraceMs: 10_000,
};
/** Calls of one database run at once by one engine process, unless IASQL_RPC_CONCURRENCY_PER_DATABASE says otherwise. */
export const perDatabaseConcurrency = (c: Pick<Config, 'workerConcurrency' | 'rpcConcurrencyPerDatabase'>) =>
  c.rpcConcurrencyPerDatabase ?? Math.max(1, Math.ceil(c.workerConcurrency / 2));

/** An allowed endpoint: an origin, with an optional '*.' before the host (the same rule as iasql_internal.endpoint_allowed). */
const ENDPOINT_PATTERN = /^https?:\/\/(\*\.)?([a-z0-9.-]+|\[[0-9a-f:]+\])(:[0-9]{1,5})?\/?$/i;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const port = (name: string, dflt: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be between 0 and 65535`)
    .max(65535, `${name} must be between 0 and 65535`)
    .default(dflt);
const count = (name: string, dflt: number, min: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .default(dflt);
const identifier = (name: string) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, `${name} must be a lowercase identifier (letters, digits, _)`);

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .refine((s) => /^postgres(ql)?:\/\//.test(s), 'DATABASE_URL must start with postgres:// or postgresql://')
    .optional(),
  IASQL_HOME: z.string().min(1).default('.iasql'),
  IASQL_API_HOST: z.string().min(1).default('127.0.0.1'),
  IASQL_API_PORT: port('IASQL_API_PORT', 8088),
  IASQL_PG_PORT: port('IASQL_PG_PORT', 5433),
  IASQL_ADMIN_TOKEN: z.string().min(16, 'IASQL_ADMIN_TOKEN must be at least 16 characters').optional(),
  IASQL_MODULE_PATH: z.string().default(''),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty'], { error: 'LOG_FORMAT must be auto, json or pretty' }).default('auto'),
  IASQL_METADATA_DB: identifier('IASQL_METADATA_DB').default('iasql_metadata'),
  IASQL_DEFAULT_DATABASE: z.union([z.literal(''), identifier('IASQL_DEFAULT_DATABASE')]).default('iasql'),
  IASQL_WORKER_CONCURRENCY: count('IASQL_WORKER_CONCURRENCY', 10, 0),
  IASQL_RPC_HISTORY_DAYS: count('IASQL_RPC_HISTORY_DAYS', 30, 1),
  IASQL_RPC_HISTORY_MAX: count('IASQL_RPC_HISTORY_MAX', 10000, 1),
  IASQL_COMMIT_CONCURRENCY: count('IASQL_COMMIT_CONCURRENCY', 10, 1),
  IASQL_LOCAL_CLOUD: z.enum(['true', 'false', 'memory'], { error: 'IASQL_LOCAL_CLOUD must be true, false or memory' }).optional(),
  IASQL_LOCAL_CLOUD_PORT: port('IASQL_LOCAL_CLOUD_PORT', 4566),
  IASQL_RPC_CONCURRENCY_PER_DATABASE: z.coerce.number({ error: 'IASQL_RPC_CONCURRENCY_PER_DATABASE must be a whole number' }).int('IASQL_RPC_CONCURRENCY_PER_DATABASE must be a whole number').min(1, 'IASQL_RPC_CONCURRENCY_PER_DATABASE must be at least 1').optional(),
  IASQL_RPC_TIMEOUT_MAX_MS: count('IASQL_RPC_TIMEOUT_MAX_MS', QUOTA_DEFAULTS.rpcTimeoutMaxMs, 1000).pipe(z.number().max(2_147_483_647, 'IASQL_RPC_TIMEOUT_MAX_MS must be at most 2147483647')),
  IASQL_RPC_MAX_ARGS_BYTES: count('IASQL_RPC_MAX_ARGS_BYTES', QUOTA_DEFAULTS.rpcMaxArgsBytes, 1024).pipe(z.number().max(1_000_000_000, 'IASQL_RPC_MAX_ARGS_BYTES must be at most 1000000000')),
  IASQL_RPC_MAX_RESULT_BYTES: count('IASQL_RPC_MAX_RESULT_BYTES', QUOTA_DEFAULTS.rpcMaxResultBytes, 1024),
  IASQL_TENANT_CONNECTION_LIMIT: count('IASQL_TENANT_CONNECTION_LIMIT', QUOTA_DEFAULTS.tenantConnectionLimit, 2),
  IASQL_ALLOWED_ENDPOINTS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((list) => list.every((x) => ENDPOINT_PATTERN.test(x)), 'IASQL_ALLOWED_ENDPOINTS must be a comma-separated list of origins such as http://localhost:4566 or https://*.example.com (scheme, host, optional port; no path)'),
  IASQL_SHUTDOWN_GRACE_MS: count('IASQL_SHUTDOWN_GRACE_MS', QUOTA_DEFAULTS.shutdownGraceMs, 0),
  IASQL_LOCAL_CLOUD_PROPAGATION_MS: count('IASQL_LOCAL_CLOUD_PROPAGATION_MS', 0, 0).pipe(z.number().max(600_000, 'IASQL_LOCAL_CLOUD_PROPAGATION_MS must be at most 600000 (10 minutes)')),
  IASQL_LOCAL_CLOUD_INVOKE: z.enum(['trusted', 'refused'], { error: 'IASQL_LOCAL_CLOUD_INVOKE must be trusted or refused' }).default('trusted'),
});

/** Reads the configuration from an environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "unset", as shells and compose files often produce them.
  // IASQL_DEFAULT_DATABASE is the exception: empty means "create no first database".
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && (v !== '' || k === 'IASQL_DEFAULT_DATABASE')));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    home: path.resolve(e.IASQL_HOME),
    apiHost: e.IASQL_API_HOST,
    apiPort: e.IASQL_API_PORT,
    pgPort: e.IASQL_PG_PORT,
    adminToken: e.IASQL_ADMIN_TOKEN,
    modulePath: e.IASQL_MODULE_PATH.split(':').filter(Boolean).map((p) => path.resolve(p)),
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    metadataDatabase: e.IASQL_METADATA_DB,
    defaultDatabase: e.IASQL_DEFAULT_DATABASE,
    workerConcurrency: e.IASQL_WORKER_CONCURRENCY,
    rpcHistoryDays: e.IASQL_RPC_HISTORY_DAYS,
    rpcHistoryMax: e.IASQL_RPC_HISTORY_MAX,
    commitConcurrency: e.IASQL_COMMIT_CONCURRENCY,
    // The first-try setup (embedded Postgres) gets a cloud to talk to; a server setup opts in.
    localCloud: ({ true: 'disk', false: 'off', memory: 'memory' } as const)[e.IASQL_LOCAL_CLOUD ?? (e.DATABASE_URL ? 'false' : 'true')],
    localCloudPort: e.IASQL_LOCAL_CLOUD_PORT,
    rpcConcurrencyPerDatabase: e.IASQL_RPC_CONCURRENCY_PER_DATABASE,
    rpcTimeoutMaxMs: e.IASQL_RPC_TIMEOUT_MAX_MS,
    rpcMaxArgsBytes: e.IASQL_RPC_MAX_ARGS_BYTES,
    rpcMaxResultBytes: e.IASQL_RPC_MAX_RESULT_BYTES,
    tenantConnectionLimit: e.IASQL_TENANT_CONNECTION_LIMIT,
    localCloudInvoke: e.IASQL_LOCAL_CLOUD_INVOKE,
    localCloudPropagationMs: e.IASQL_LOCAL_CLOUD_PROPAGATION_MS,
    allowedEndpoints: e.IASQL_ALLOWED_ENDPOINTS,
    shutdownGraceMs: e.IASQL_SHUTDOWN_GRACE_MS,
  };
}
