import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeIdentifier as ident, type Client, type PoolClient } from 'pg';
import { packageRoot } from '../version';

/**
 * The engine's own SQL inside every managed database: numbered plain files under
 * sql/user-database/ (000001.sql, ...), applied in order, each once, recorded in
 * iasql_internal.engine_migration. New databases get all of them; on start the engine brings
 * existing databases up to date.
 */
export interface EngineSqlFile {
  id: number;
  file: string;
  sql: string;
}

/** The schema of the engine's tables in every managed database (sql/user-database/000004.sql). */
export const ENGINE_SCHEMA = 'iasql_engine';

let cached: EngineSqlFile[] | undefined;

export function engineSqlFiles(): EngineSqlFile[] {
  if (!cached) {
    const dir = path.join(packageRoot(), 'sql', 'user-database');
    cached = fs
      .readdirSync(dir)
      .filter((f) => /^\d{6}\.sql$/.test(f))
      .sort()
      .map((file) => ({ id: Number(file.slice(0, 6)), file, sql: fs.readFileSync(path.join(dir, file), 'utf8') }));
    cached.forEach((f, i) => {
      if (f.id !== i + 1) throw new Error(`sql/user-database: expected ${String(i + 1).padStart(6, '0')}.sql, found ${f.file}`);
    });
  }
  return cached;
}

/** Applies the pending engine SQL files in one transaction on `client`. Returns how many ran. */
export async function applyEngineSql(client: Client | PoolClient): Promise<number> {
  await client.query('begin');
  try {
    await client.query(`create table if not exists iasql_internal.engine_migration (
      id integer primary key, applied_at timestamptz not null default now())`);
    // Serialises concurrent engines bringing the same database up to date. A lock on a table of
    // iasql_internal, which tenants cannot reach, not an advisory key: any session may take any
    // advisory key, and a tenant holding this one would stall every engine start.
    await client.query('lock table iasql_internal.engine_migration in share row exclusive mode');
    // A tenant's open transaction may hold locks engine SQL needs: fail after a while, naming the
    // file, rather than hold up the start of the engine for every database.
    await client.query(`set local lock_timeout = '10s'`);
    const { rows } = await client.query<{ id: number }>('select coalesce(max(id), 0)::int as id from iasql_internal.engine_migration');
    const pending = engineSqlFiles().filter((f) => f.id > rows[0].id);
    for (const f of pending) {
      try {
        await client.query(f.sql);
      } catch (err) {
        throw new Error(`engine SQL ${f.file} failed: ${(err as Error).message}`, { cause: err });
      }
      await client.query('insert into iasql_internal.engine_migration (id) values ($1)', [f.id]);
    }
    await client.query('commit');
    return pending.length;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** The tenant reads the engine's tables (never writes them), by their plain names. */
export async function grantEngineSchema(client: Client | PoolClient, tenant: string): Promise<void> {
  await client.query(`grant usage on schema ${ENGINE_SCHEMA} to ${ident(tenant)}`);
  await client.query(`grant select on all tables in schema ${ENGINE_SCHEMA} to ${ident(tenant)}`);
}
