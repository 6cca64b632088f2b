import { escapeIdentifier as ident, PoolClient } from 'pg';
import { IasqlError } from '../errors';
import { entityTable, type LoadedVersion } from './registry';

/**
 * Which tables a module owns in a database is learned from what its migrations do, not from what
 * it declares: a module in plain JavaScript declares no entities at all. Each version's up runs
 * between two reads of pg_class, inside the module transaction. A table is known by its oid, which
 * ALTER TABLE ... RENAME keeps, so a rename is not a drop and a create.
 */
export interface Table {
  oid: number;
  schema: string;
  name: string;
  /** Created or altered by this transaction. */
  ours: boolean;
}

/**
 * Every table (ordinary or partitioned) outside the system schemas. `ours` keeps out tables a
 * tenant creates and commits while a migration runs: the module transaction is a top-level
 * transaction (no savepoints), so what its statements create carries its transaction id.
 */
export async function readTables(c: PoolClient): Promise<Map<number, Table>> {
  const { rows } = await c.query<Table>(
    `select c.oid, n.nspname as schema, c.relname as name, c.xmin = pg_current_xact_id()::xid as ours
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'`,
  );
  return new Map(rows.map((r) => [r.oid, r]));
}

/**
 * The owner of every recorded table that exists, by oid. `module`'s tables also include those its
 * installed version declares (`declared`), recorded or not, so a damaged iasql_tables row does not
 * turn an upgrade into a confusing mismatch.
 */
export async function readOwners(c: PoolClient, module: string, declared: string[]): Promise<Map<number, string>> {
  const { rows: platform } = await c.query<{ exists: boolean }>(`select to_regclass('iasql_engine.iasql_tables') is not null as exists`);
  const recorded = platform[0].exists ? `select table_name as t, module as m from iasql_engine.iasql_tables union all ` : '';
  const { rows } = await c.query<{ oid: number | null; module: string }>(
    `select to_regclass(format('public.%I', t))::oid as oid, m as module
       from (${recorded}select unnest($2::text[]) as t, $1::text as m) x`,
    [module, declared],
  );
  return new Map(rows.filter((r) => r.oid !== null).map((r) => [r.oid!, r.module]));
}

/**
 * Runs one version's migration up and returns the module's tables after it, sorted by name:
 * the ones it owned (`owned`, by oid; renamed ones under their new name, dropped ones gone) plus
 * the ones the migration created. Refuses, naming module, version and table, a table created
 * outside `public`, another module's table dropped or renamed, or (when the version declares
 * entities) any difference between those tables and the entities.
 */
export async function migrateTracked(
  c: PoolClient,
  v: LoadedVersion,
  owned: Set<number>,
  owners: Map<number, string>,
  migrate: () => Promise<void>,
): Promise<Table[]> {
  const before = await readTables(c);
  await migrate();
  const after = await readTables(c);
  const tables = [...after.values()]
    .filter((t) => owned.has(t.oid) || (!before.has(t.oid) && t.ours))
    .sort((a, b) => a.name.localeCompare(b.name));
  const problems: string[] = [];
  for (const [oid, module] of owners) {
    const was = before.get(oid);
    const now = after.get(oid);
    if (module === v.module || !was) continue;
    if (!now) problems.push(`it dropped table '${was.name}' of module '${module}'`);
    else if (now.name !== was.name || now.schema !== was.schema) problems.push(`it renamed table '${was.name}' of module '${module}' to ${now.schema}.${now.name}`);
  }
  for (const t of tables) {
    if (t.schema !== 'public') problems.push(`table ${t.schema}.${t.name} is outside the public schema, where module tables live`);
  }
  if (v.entities.length) {
    const have = new Set(tables.map((t) => t.name));
    v.tables.forEach((table, i) => {
      if (!have.has(table)) problems.push(`entity ${entityTable(v.entities[i]).entity} maps to table '${table}', which does not exist after the migration`);
    });
    const declared = new Set(v.tables);
    for (const t of tables) {
      if (t.schema === 'public' && !declared.has(t.name)) problems.push(`table '${t.name}' has no entity (declare one for every table, or declare none)`);
    }
  }
  if (problems.length) {
    throw new IasqlError(
      'module_tables_mismatch',
      `module ${v.module}@${v.version}: after ${v.up.name}:\n  - ${problems.join('\n  - ')}\nnothing was changed`,
      500,
    );
  }
  return tables;
}

/** Drops what is left of `owned` after a module's downs ran; returns the names dropped. */
export async function dropLeftovers(c: PoolClient, owned: Set<number>): Promise<string[]> {
  const left = [...(await readTables(c)).values()].filter((t) => owned.has(t.oid));
  for (const t of left) await c.query(`drop table ${ident(t.schema)}.${ident(t.name)}`);
  return left.map((t) => t.name);
}
