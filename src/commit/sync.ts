import { escapeIdentifier as ident } from 'pg';
import type { PoolClient } from 'pg';
import type { Logger } from '../logger';
import { BoundEntity, parentsFirst } from './plan';
import { deepEqual, identity, insertSql, matches, rowJson, updateSql } from './rows';
import type { PlanRow, Row } from './types';

/**
 * Sync and import: the rows of cloud tables against everything the cloud has (readAll). New
 * resources become rows, gone ones are deleted, changed ones updated. The caller holds the commit
 * lock or the install's transaction, and names the audit source.
 */
/** Compares the rows of `tables` with everything the cloud has, and (unless dry) makes the rows match. */
export async function reconcile(
  c: PoolClient,
  entities: Map<string, BoundEntity>,
  tables: string[],
  dryRun: boolean,
  read: <T>(bound: BoundEntity, fn: () => Promise<T>) => Promise<T>,
  logger: Logger,
): Promise<PlanRow[]> {
  const wanted = [...entities.values()].filter((b) => tables.includes(b.entity.table));
  const order = await parentsFirst(c, wanted.map((b) => b.entity.table));
  const changes: Array<{ bound: BoundEntity; action: PlanRow['action']; rowId: number | null; cloud: Row | null; description: string }> = [];
  const reads = await Promise.all(wanted.map(async (b) => ({ b, cloud: await read(b, () => b.entity.readAll(b.ctx)) })));
  for (const { b, cloud } of reads) {
    if (cloud === null) {
      logger.info({ table: b.entity.table }, 'cloud not configured yet: nothing imported');
      continue;
    }
    const rows = (await c.query<Row>(`select * from public.${ident(b.entity.table)}`)).rows;
    const have = new Map(rows.map((r) => [identity(b.entity, r), r]));
    const seen = new Set<string>();
    for (const cr of cloud) {
      const key = identity(b.entity, cr);
      seen.add(key);
      const row = have.get(key);
      if (!row) changes.push({ bound: b, action: 'create', rowId: null, cloud: cr, description: key });
      else if (!matches(b.entity, row, cr) || (b.entity.cloudColumns ?? []).some((col) => !deepEqual(row[col] ?? null, cr[col] ?? null))) {
        changes.push({ bound: b, action: 'update', rowId: Number(row.id), cloud: cr, description: key });
      }
    }
    for (const [key, row] of have) if (!seen.has(key)) changes.push({ bound: b, action: 'delete', rowId: Number(row.id), cloud: null, description: key });
  }
  // Deletes first, children before parents; then creates and updates, parents before children.
  const rank = (ch: (typeof changes)[number]) => {
    const pos = order.indexOf(ch.bound.entity.table);
    return ch.action === 'delete' ? -(pos + 1) : pos;
  };
  changes.sort((a, b) => rank(a) - rank(b));
  if (!dryRun) {
    for (const ch of changes) {
      const table = ch.bound.entity.table;
      if (ch.action === 'delete') await c.query(`delete from public.${ident(table)} where id = $1`, [ch.rowId]);
      else if (ch.action === 'create') ch.rowId = Number((await c.query<{ id: number }>(insertSql(table, Object.keys(ch.cloud!)), [rowJson(ch.cloud!)])).rows[0].id);
      else await c.query(updateSql(table, Object.keys(ch.cloud!)), [rowJson(ch.cloud!), ch.rowId]);
    }
  }
  return changes.map((ch) => ({ action: ch.action, table_name: ch.bound.entity.table, id: ch.rowId, description: ch.description }));
}
