import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMigrations } from 'graphile-worker';
import { escapeIdentifier as ident, escapeLiteral as literal } from 'pg';
import { generatePassword, scramVerifier } from '../databases/credentials';
import type { Logger } from '../logger';
import type { Connections } from '../postgres/connections';
import { packageRoot } from '../version';
import { graphileLogger } from './worker';

export interface RpcSetup {
  /** The queue role tenant databases connect as (one per metadata database). */
  role: string;
  /** libpq connection string of the queue, as the Postgres server itself reaches it. Holds a password. */
  conninfo: string;
}

/** Name of the queue role of a metadata database (roles are per server; metadata databases may share one). */
export const rpcRoleName = (metadataDatabase: string) => `iasql_rpc_${createHash('sha256').update(metadataDatabase).digest('hex').slice(0, 10)}`;

const conninfoValue = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Prepares the metadata database for rpc, under a lock so concurrent engines take turns:
 * graphile-worker's schema, the queue role (login, no other privilege than executing the queue
 * functions and connecting to this database) with its stored password, and the queue functions.
 */
export async function setupRpc(conns: Connections, metadataDatabase: string, logger: Logger): Promise<RpcSetup> {
  const role = rpcRoleName(metadataDatabase);
  const lock = await conns.dedicated(metadataDatabase);
  try {
    await lock.query(`select pg_advisory_lock(hashtext('iasql_rpc_setup'))`);
    await runMigrations({ pgPool: conns.pool(metadataDatabase), logger: graphileLogger(logger) });
    let password = (await lock.query<{ password: string }>('select password from rpc_credential where role = $1', [role])).rows[0]?.password;
    if (!password) {
      password = generatePassword();
      await lock.query('insert into rpc_credential (role, password) values ($1, $2)', [role, password]);
    }
    const exists = (await lock.query('select 1 from pg_roles where rolname = $1', [role])).rowCount;
    const verifier = literal(scramVerifier(password));
    await lock.query(
      exists
        ? `alter role ${ident(role)} login nosuperuser nocreatedb nocreaterole noinherit password ${verifier}`
        : `create role ${ident(role)} login nosuperuser nocreatedb nocreaterole noinherit password ${verifier}`,
    );
    await lock.query(`grant connect on database ${ident(metadataDatabase)} to ${ident(role)}`);
    // Enqueue and status rows are state of calls in flight: no WAL flush wait (see RpcWorker.queue).
    await lock.query(`alter role ${ident(role)} in database ${ident(metadataDatabase)} set synchronous_commit = off`);
    const sql = fs.readFileSync(path.join(packageRoot(), 'sql', 'metadata', 'rpc.sql'), 'utf8').replaceAll(':rpc_role', ident(role));
    await lock.query(sql);
    const { host, port } = conns.endpoint;
    const conninfo = [
      `host=${conninfoValue(host)}`,
      `port=${conninfoValue(port)}`,
      `dbname=${conninfoValue(metadataDatabase)}`,
      `user=${conninfoValue(role)}`,
      `password=${conninfoValue(password)}`,
      `application_name='iasql_rpc'`,
    ].join(' ');
    logger.debug({ role }, 'rpc queue ready');
    return { role, conninfo };
  } finally {
    await lock.end();
  }
}

/** Tells a managed database how to reach the queue. */
export async function configureRpc(conns: Connections, database: string, setup: RpcSetup): Promise<void> {
  await conns.query(
    database,
    `insert into iasql_internal.rpc_config (conninfo) values ($1) on conflict (only_row) do update set conninfo = excluded.conninfo`,
    [setup.conninfo],
  );
}
