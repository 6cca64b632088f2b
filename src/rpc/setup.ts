import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMigrations } from 'graphile-worker';
import { escapeIdentifier as ident } from 'pg';
import type { Logger } from '../logger';
import type { Connections } from '../postgres/connections';
import { packageRoot } from '../version';
import { lockArgs, pgLocksMatch } from '../postgres/lock-keys';
import { NOTIFY_QUEUE_THRESHOLD } from './notify-queue';
import { graphileLogger } from './worker';

export interface RpcSetup {
  /** The group role whose members (one queue role per managed database) may use the queue functions. */
  group: string;
  /** Host and port of the queue, as the Postgres server itself reaches it. */
  host: string;
  port: number;
  database: string;
}

/** Quotas every managed database's rpc entry point enforces (iasql_internal.rpc_config). */
export interface RpcQuotas {
  /** Ceiling of iasql.rpc_timeout_ms: a higher value is clamped, with a NOTICE. */
  maxTimeoutMs: number;
  /** Largest arguments of one call (their JSON): larger ones are refused with IQ002 before anything runs. */
  maxArgsBytes: number;
}

/** Name of the queue group of a metadata database (roles are per server; metadata databases may share one). */
export const queueGroupName = (metadataDatabase: string) => `iasql_queue_${hash(metadataDatabase)}`;
/** The one queue role earlier engines shared between all databases: it may now only learn that they are not served. */
const legacyRoleName = (metadataDatabase: string) => `iasql_rpc_${hash(metadataDatabase)}`;
const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 10);

const conninfoValue = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Prepares the metadata database for rpc, under a lock so concurrent engines take turns:
 * graphile-worker's schema, the queue group (no login; its members, one queue role per managed
 * database, may connect to this database and execute the queue functions, nothing else), and the
 * queue functions.
 */
export async function setupRpc(conns: Connections, metadataDatabase: string, logger: Logger): Promise<RpcSetup> {
  const group = queueGroupName(metadataDatabase);
  const legacy = legacyRoleName(metadataDatabase);
  const lock = await conns.dedicated(metadataDatabase);
  try {
    await lock.query(`select pg_advisory_lock(${lockArgs('rpcSetup')})`);
    await runMigrations({ pgPool: conns.pool(metadataDatabase), logger: graphileLogger(logger) });
    const exists = async (role: string) => Boolean((await lock.query('select 1 from pg_roles where rolname = $1', [role])).rowCount);
    if (!(await exists(group))) await lock.query(`create role ${ident(group)} nologin nosuperuser nocreatedb nocreaterole`);
    await lock.query(`grant connect on database ${ident(metadataDatabase)} to ${ident(group)}`);
    // Databases of earlier engines still call with the shared role: they get a clear refusal.
    if (!(await exists(legacy))) await lock.query(`create role ${ident(legacy)} nologin nosuperuser nocreatedb nocreaterole`);
    const sql = fs
      .readFileSync(path.join(packageRoot(), 'sql', 'metadata', 'rpc.sql'), 'utf8')
      .replaceAll(':queue_group', ident(group))
      .replaceAll(':legacy_role', ident(legacy))
      .replaceAll(':engine_alive_lock', pgLocksMatch('engineAlive'))
      .replaceAll(':notify_queue_threshold', String(NOTIFY_QUEUE_THRESHOLD));
    await lock.query(sql);
    logger.debug({ group }, 'rpc queue ready');
    return { group, ...conns.endpoint, database: metadataDatabase };
  } finally {
    await lock.end();
  }
}

/**
 * Tells a managed database how to reach the queue (as its own queue role; the password is readable
 * by the engine role only) and which quotas its rpc entry point enforces.
 */
export async function configureRpc(conns: Connections, database: string, setup: RpcSetup, queue: { user: string; password: string }, quotas: RpcQuotas): Promise<void> {
  const conninfo = [
    `host=${conninfoValue(setup.host)}`,
    `port=${conninfoValue(setup.port)}`,
    `dbname=${conninfoValue(setup.database)}`,
    `user=${conninfoValue(queue.user)}`,
    `password=${conninfoValue(queue.password)}`,
    `application_name='iasql_rpc'`,
  ].join(' ');
  await conns.query(
    database,
    `insert into iasql_internal.rpc_config (conninfo, max_timeout_ms, max_args_bytes) values ($1, $2, $3)
     on conflict (only_row) do update set conninfo = excluded.conninfo, max_timeout_ms = excluded.max_timeout_ms, max_args_bytes = excluded.max_args_bytes`,
    [conninfo, quotas.maxTimeoutMs, quotas.maxArgsBytes],
  );
}
