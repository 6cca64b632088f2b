import { escapeIdentifier as ident } from 'pg';
import type { PoolClient } from 'pg';
import { identity, idOf, matches } from './rows';
import type { CloudContext, CloudEntity, PlanRow, Row } from './types';

/** A cloud entity of an installed module version, with the context its mapper runs with. */
export interface BoundEntity {
  entity: CloudEntity;
  module: string;
  ctx: CloudContext;
}

/** A row the change set touched: as it was before the change set, and as it is now. */
export interface Touched {
  table: string;
  rowId: number;
  before: Row | null;
  after: Row | null;
}

/** One cloud operation of a plan. `target` is the row to reach; `cloud` what the cloud has now. */
export interface Operation {
  key: string;
  action: PlanRow['action'];
  bound: BoundEntity;
  touched: Touched;
  target: Row | null;
  cloud: Row | null;
  description: string;
}

export interface Plan {
  operations: Operation[];
  /** Touched rows already matching the cloud: their cloud columns are written back. */
  unchanged: Array<{ bound: BoundEntity; touched: Touched; cloud: Row }>;
  /** Every touched row, cloud entity or not (a failed commit restores them). */
  touched: Touched[];
}

/**
 * The rows a range of the audit log touched: the user's changes with ids in (from, to], each row
 * once, with its state before the first change and now. Costs what changed, not what exists.
 */
export async function touchedRows(c: PoolClient, fromId: string, toId: string): Promise<Touched[]> {
  const { rows } = await c.query<{ table_name: string; change: { original: Row | null; change: Row | null } }>(
    `select table_name, change from iasql_engine.iasql_audit_log
     where source = 'user' and id > $1 and id <= $2 and change_type in ('INSERT', 'UPDATE', 'DELETE')
     order by id`,
    [fromId, toId],
  );
  const byRow = new Map<string, Touched>();
  for (const r of rows) {
    const rowId = Number((r.change.original ?? r.change.change)?.id);
    if (!Number.isInteger(rowId)) continue;
    const k = `${r.table_name}#${rowId}`;
    if (!byRow.has(k)) byRow.set(k, { table: r.table_name, rowId, before: r.change.original, after: null });
  }
  // Their current state, a query per table.
  const tables = new Map<string, Touched[]>();
  for (const t of byRow.values()) tables.set(t.table, [...(tables.get(t.table) ?? []), t]);
  for (const [table, list] of tables) {
    const exists = await c.query(`select to_regclass($1) is not null as ok`, [`public.${ident(table)}`]);
    if (!exists.rows[0].ok) continue; // the table went away (module uninstalled)
    const current = await c.query<Row>(`select * from public.${ident(table)} where id = any($1::int[])`, [list.map((t) => t.rowId)]);
    const byId = new Map(current.rows.map((r) => [Number(r.id), r]));
    for (const t of list) t.after = byId.get(t.rowId) ?? null;
  }
  return [...byRow.values()].filter((t) => t.before !== null || t.after !== null);
}

/**
 * Decides, for each touched row of a cloud entity, what the cloud needs: it reads the cloud for
 * exactly those resources (at their old and new identities), concurrently.
 */
export async function planChanges(touched: Touched[], entities: Map<string, BoundEntity>, read: <T>(bound: BoundEntity, fn: () => Promise<T>) => Promise<T>): Promise<Plan> {
  const plan: Plan = { operations: [], unchanged: [], touched };
  let n = 0;
  const add = (op: Omit<Operation, 'key'>) => plan.operations.push({ ...op, key: `op${++n}` });
  // First what must be read: each resource once, at its old identity too when it changed.
  const wanted = new Map<BoundEntity, Map<string, Row>>();
  const want = (bound: BoundEntity, row: Row | null) => {
    if (!row) return;
    if (!wanted.has(bound)) wanted.set(bound, new Map());
    wanted.get(bound)!.set(identity(bound.entity, row), idOf(bound.entity, row));
  };
  for (const t of touched) {
    const bound = entities.get(t.table);
    if (!bound) continue;
    want(bound, t.after ?? t.before);
    if (t.before && t.after) want(bound, t.before);
  }
  const cloud = await readAll(wanted, read);
  const at = (bound: BoundEntity, row: Row) => cloud.get(bound)!.get(identity(bound.entity, row));

  for (const t of touched) {
    const bound = entities.get(t.table);
    if (!bound) continue;
    const { entity } = bound;
    const { before, after } = t;
    const idBefore = before ? identity(entity, before) : undefined;
    const idAfter = after ? identity(entity, after) : undefined;
    if (!after) {
      // Deleted row: delete the resource if the cloud still has it.
      const gone = at(bound, before!);
      if (gone) add({ action: 'delete', bound, touched: t, target: null, cloud: gone, description: idBefore! });
      continue;
    }
    const cloudBefore = before && idBefore !== idAfter ? at(bound, before) : undefined;
    const cloudAfter = at(bound, after);
    if (cloudBefore) {
      // Renamed or moved: the old resource goes.
      add({ action: 'delete', bound, touched: t, target: null, cloud: cloudBefore, description: idBefore! });
    }
    if (!cloudAfter) {
      add({ action: 'create', bound, touched: t, target: after, cloud: null, description: idAfter! });
    } else if (!matches(entity, after, cloudAfter)) {
      const action = entity.needsReplace?.(after, cloudAfter) ? 'replace' : 'update';
      add({ action, bound, touched: t, target: after, cloud: cloudAfter, description: idAfter! });
    } else {
      plan.unchanged.push({ bound, touched: t, cloud: cloudAfter });
    }
  }
  // Stable order for people: by table, then id, deletes of a row before its create.
  const rank = { delete: 0, replace: 1, update: 2, create: 3 };
  plan.operations.sort((a, b) => a.bound.entity.table.localeCompare(b.bound.entity.table) || a.touched.rowId - b.touched.rowId || rank[a.action] - rank[b.action]);
  return plan;
}

/**
 * Reads the wanted resources: in one `readMany` per entity when the mapper has one (it may batch,
 * e.g. list instead of describing each), else one `read` each, concurrently. Keyed by identity.
 */
async function readAll(wanted: Map<BoundEntity, Map<string, Row>>, read: <T>(bound: BoundEntity, fn: () => Promise<T>) => Promise<T>) {
  const out = new Map<BoundEntity, Map<string, Row | undefined>>();
  await Promise.all(
    [...wanted].map(async ([bound, ids]) => {
      const keys = [...ids.keys()];
      const rows = [...ids.values()];
      const { entity, ctx } = bound;
      const found = entity.readMany
        ? await read(bound, () => entity.readMany!(ctx, rows))
        : await Promise.all(rows.map((id) => read(bound, () => entity.read(ctx, id))));
      out.set(bound, new Map(keys.map((k, i) => [k, found[i]])));
    }),
  );
  return out;
}

/** Foreign keys between tables: child columns referencing parent columns. */
export interface ForeignKey {
  child: string;
  childColumns: string[];
  parent: string;
  parentColumns: string[];
  /** Whether every child column may be NULL (a cycle can then be broken at this reference). */
  childNullable: boolean;
}

export async function foreignKeys(c: PoolClient, tables: string[]): Promise<ForeignKey[]> {
  const { rows } = await c.query<ForeignKey>(
    `select cl.relname as child, pl.relname as parent,
            array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i) join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) as "childColumns",
            array(select a.attname::text from unnest(k.confkey) with ordinality u(n, i) join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i) as "parentColumns",
            not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = k.conrelid and a.attnum = any(k.conkey) and a.attnotnull) as "childNullable"
     from pg_constraint k
     join pg_class cl on cl.oid = k.conrelid
     join pg_class pl on pl.oid = k.confrelid
     where k.contype = 'f' and cl.relname = any($1) and pl.relname = any($1)
       and cl.relnamespace = 'public'::regnamespace and pl.relnamespace = 'public'::regnamespace`,
    [tables],
  );
  return rows;
}

/** Tables ordered so that a table comes after the tables its foreign keys reference. */
export async function parentsFirst(c: PoolClient, tables: string[]): Promise<string[]> {
  const fks = await foreignKeys(c, tables);
  const out: string[] = [];
  const visit = (t: string, path: Set<string>) => {
    if (out.includes(t) || path.has(t)) return;
    path.add(t);
    for (const fk of fks) if (fk.child === t && fk.parent !== t) visit(fk.parent, path);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}
