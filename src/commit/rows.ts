import { escapeIdentifier as ident } from 'pg';
import type { CloudEntity, Row } from './types';

/** A resource's cloud identity as text: its id column values joined by '|' (`orders|us-east-1`). */
export function identity(entity: CloudEntity, row: Row): string {
  return entity.id.map((c) => String(row[c] ?? '')).join('|');
}

/** Only the id columns of a row: what `read` needs. */
export function idOf(entity: CloudEntity, row: Row): Row {
  return Object.fromEntries(entity.id.map((c) => [c, row[c]]));
}

/** JSON-deep equality with object keys in any order; Dates compare by instant. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date)) {
      return Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Row)[k]]));
    }
    return x === undefined ? null : x;
  });
}

/** Whether the row matches the cloud's view, by the entity's own rule or the default one. */
export function matches(entity: CloudEntity, row: Row, cloud: Row): boolean {
  if (entity.equals) return entity.equals(row, cloud);
  const skip = new Set(['id', ...(entity.cloudColumns ?? [])]);
  return Object.keys(cloud).every((k) => skip.has(k) || deepEqual(row[k] ?? null, cloud[k] ?? null));
}

/**
 * SQL setting `columns` of row `id` from a JSON object, converted to the columns' own types by
 * Postgres (jsonb_populate_record), so json, arrays and timestamps round-trip. Identifiers are
 * quoted; values are parameters.
 */
export function updateSql(table: string, columns: string[]): string {
  const cols = columns.map(ident).join(', ');
  return `update public.${ident(table)} set (${cols}) = (select ${cols} from jsonb_populate_record(null::public.${ident(table)}, $1::jsonb)) where id = $2`;
}

export function insertSql(table: string, columns: string[]): string {
  const cols = columns.map(ident).join(', ');
  return `insert into public.${ident(table)} (${cols}) select ${cols} from jsonb_populate_record(null::public.${ident(table)}, $1::jsonb) returning id`;
}

/** Like updateSql for many rows at once: $1 is a JSON array of objects with `id` and the columns. */
export function updateManySql(table: string, columns: string[]): string {
  const t = `public.${ident(table)}`;
  return `update ${t} as t set ${columns.map((c) => `${ident(c)} = r.${ident(c)}`).join(', ')} from jsonb_populate_recordset(null::${t}, $1::jsonb) r where t.id = r.id`;
}

/** Like insertSql for many rows at once: $1 is a JSON array of objects. */
export function insertManySql(table: string, columns: string[]): string {
  const cols = columns.map(ident).join(', ');
  return `insert into public.${ident(table)} (${cols}) select ${cols} from jsonb_populate_recordset(null::public.${ident(table)}, $1::jsonb)`;
}

/** A row as JSON for jsonb_populate_record: json columns stay JSON values. */
export function rowJson(row: Row): string {
  return JSON.stringify(row, (_k, v) => (v === undefined ? null : v));
}
